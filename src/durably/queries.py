"""Instance filters of the clients: runtime statuses given by name or member, and the
store queries of a listing and of a purge."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from durably.backends.base import InstanceQuery
from durably.history import OrchestrationRuntimeStatus

Status = OrchestrationRuntimeStatus
StatusFilter = Status | str | Iterable[Status | str] | None
"""A runtime-status filter: one status, or several (names or enum members)."""
MAX_PAGE_SIZE = 1000


def parse_statuses(value: StatusFilter) -> frozenset[Status] | None:
    """A runtime-status filter as a set; ``ValueError`` names the valid statuses."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    out = set()
    for item in items:
        try:
            out.add(Status(item))
        except ValueError:
            known = ", ".join(s.value for s in Status)
            raise ValueError(f"unknown runtime status {item!r}; use one of {known}") from None
    return frozenset(out)


def purge_query(
    created_time_from: _dt.datetime | None,
    created_time_to: _dt.datetime | None,
    runtime_status: StatusFilter,
) -> InstanceQuery:
    """The store query of :meth:`Client.purge_instance_history_by`'s arguments;
    ``ValueError`` for a status of instances still under way."""
    statuses = parse_statuses(runtime_status)
    active = sorted(s.value for s in statuses or () if not s.is_terminal)
    if active:
        raise ValueError(f"only finished instances can be purged, not {', '.join(active)}")
    return InstanceQuery(
        runtime_status=statuses,
        created_time_from=created_time_from,
        created_time_to=created_time_to,
    )
