"""A store's summary (counts by status, the backlog, per-minute figures) for the
dashboard, the metrics and ``durably top``: from the store's own indexes when it has
:class:`~durably.backends.base.Summaries`, else from listings of a bounded size."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterator

from durably.backends.base import Backend, InstanceQuery, InstanceRecord, StoreSummary, Summaries
from durably.history import TERMINAL_STATUSES, OrchestrationRuntimeStatus

SCAN_LIMIT = 10_000
"""Instances one listing reads at most, for a store without :class:`Summaries`."""


def summarize(backend: Backend, now: _dt.datetime, minutes: int) -> StoreSummary:
    """The store's summary; without :class:`Summaries`, from listings (at most
    ``SCAN_LIMIT`` instances each: counts beyond that are left out, "finished per minute"
    counts only instances created in the window, and the backlog is unknown)."""
    if isinstance(backend, Summaries):
        return backend.summarize(now, minutes)
    counts: dict[OrchestrationRuntimeStatus, int] = {}
    started, finished = [0] * minutes, [0] * minutes
    for record in listed(backend, InstanceQuery(page_size=1000)):
        counts[record.runtime_status] = counts.get(record.runtime_status, 0) + 1
    if minutes:
        since = now - _dt.timedelta(minutes=minutes)
        for record in listed(backend, InstanceQuery(page_size=1000, created_time_from=since)):
            _bucket(started, record.created_time, since)
            if record.runtime_status in TERMINAL_STATUSES:
                _bucket(finished, record.last_updated_time, since)
    return StoreSummary(
        counts=counts, started=tuple(started), finished=tuple(finished), oldest_waiting=None
    )


def listed(
    backend: Backend, query: InstanceQuery, limit: int = SCAN_LIMIT
) -> Iterator[InstanceRecord]:
    """The records of ``query``'s pages, about ``limit`` at most (whole pages)."""
    seen = 0
    while seen < limit:
        page = backend.list_instances(query)
        yield from page.instances
        seen += len(page.instances)
        if page.continuation_token is None:
            return
        query = dataclasses.replace(query, continuation_token=page.continuation_token)


def _bucket(buckets: list[int], at: _dt.datetime, since: _dt.datetime) -> None:
    minute = int((at - since).total_seconds() // 60)
    if 0 <= minute < len(buckets):
        buckets[minute] += 1
