"""The status reads of the SQL stores as plans: generators that yield each query
(statement template, parameters) and receive its rows. :func:`run` carries a plan out
on a transaction; :mod:`durably.backends._pg_async` carries the same plans out on
psycopg's async connections, so that both read the same way."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from durably.backends import _codec
from durably.backends.base import InstanceQuery, InstanceRecord, RecordPage
from durably.backends.sql import rows
from durably.backends.sql import statements as q
from durably.backends.sql.tx import Tx
from durably.history import HistoryEvent

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
Plan = Generator[tuple[str, tuple[Any, ...]], Rows, T]
"""Yields (statement template, parameters); is sent the rows; returns the result."""


def run(tx: Tx, plan: Plan[T]) -> T:
    """Carry ``plan`` out on ``tx``."""
    try:
        request = next(plan)
        while True:
            template, params = request
            request = plan.send(tx.all(template, *params))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def instance(hub: str, instance_id: str) -> Plan[InstanceRecord | None]:
    """The instance, with its waiting note, or None."""
    found = yield q.SELECT_INSTANCE, (hub, instance_id)
    return rows.record(found[0], waiting=True) if found else None


def history(hub: str, instance_id: str) -> Plan[list[HistoryEvent]]:
    """The instance's history in order."""
    found = yield q.SELECT_HISTORY, (hub, instance_id)
    first = found[0][2] if found and found[0][0] == 0 else None
    if found and first is None:  # the start event was stored without its input
        row = yield q.SELECT_INPUT, (hub, instance_id)
        first = row[0][0] if row else None
    text = None if first is None else str(first)
    return rows.history_events(instance_id, found, lambda: text)


def page(hub: str, query: InstanceQuery, where: str, params: list[Any]) -> Plan[RecordPage]:
    """A page of instances in (created_time, instance_id) order, under ``where``."""
    if query.continuation_token:
        created, instance_id = _codec.decode_token(query.continuation_token)
        # A row-value comparison: both databases turn it into one index range seek.
        where += " AND (created_time, instance_id) > (?, ?)"
        params = [*params, created, instance_id]
    found = yield (
        f"SELECT {q.STATUS_COLUMNS} FROM durably_instances WHERE {where}"
        " ORDER BY created_time, instance_id LIMIT ?",
        (hub, *params, query.page_size + 1),
    )
    records = [rows.record(row, waiting=True) for row in found[: query.page_size]]
    token = None
    if len(found) > query.page_size and records:
        last = found[query.page_size - 1]
        token = _codec.encode_token(last[7], last[0])
    return RecordPage(instances=tuple(records), continuation_token=token)
