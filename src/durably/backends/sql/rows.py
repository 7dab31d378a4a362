"""Rows to records and back: the mapping between the tables and the store's records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from durably.backends._codec import from_micros, to_micros
from durably.backends.base import (
    ActivityWorkItem,
    InboxMessage,
    InstanceRecord,
    NewInstance,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.history import GenericEvent, HistoryEvent, OrchestrationRuntimeStatus


def record(row: tuple[Any, ...]) -> InstanceRecord:
    """The instance of a row of ``INSTANCE_COLUMNS``."""
    return InstanceRecord(
        instance_id=row[0],
        name=row[1],
        execution_id=row[2],
        runtime_status=OrchestrationRuntimeStatus(row[3]),
        input=row[4],
        output=row[5],
        custom_status=row[6],
        created_time=from_micros(row[7]),
        last_updated_time=from_micros(row[8]),
        parent_instance_id=row[9],
        history_length=row[10],
    )


def new_instance(hub: str, new: NewInstance) -> tuple[Any, ...]:
    """The parameters of ``INSERT_INSTANCE`` for ``new`` (Pending, nothing run)."""
    created = to_micros(new.created_time)
    return (
        hub,
        new.instance_id,
        new.name,
        new.execution_id,
        OrchestrationRuntimeStatus.Pending.value,
        new.input,
        created,
        created,
        new.parent_instance_id,
    )


def committed_instance(hub: str, new: NewInstance, commit: OrchestrationCommit) -> tuple[Any, ...]:
    """The parameters of ``INSERT_COMMITTED_INSTANCE``: ``new`` as its first episode's
    ``commit`` leaves it."""
    return (
        hub,
        new.instance_id,
        commit.name,
        commit.execution_id,
        commit.runtime_status.value,
        commit.input,
        commit.output,
        commit.custom_status,
        to_micros(new.created_time),
        to_micros(commit.last_updated_time),
        new.parent_instance_id,
        len(commit.new_events),
    )


def history_text(events: Sequence[HistoryEvent]) -> str:
    """One history row for the events one commit appends: the event, or an array of them.

    One row per commit instead of one per event: fewer statements and index entries,
    fewer pages written per commit. The row's sequence is its first event's number.
    """
    if len(events) == 1:
        return events[0].to_json()
    return "[" + ",".join(event.to_json() for event in events) + "]"


def history_events(instance_id: str, found: Sequence[tuple[Any, ...]]) -> list[HistoryEvent]:
    """The events of history rows (sequence, event text), in order; ``ValueError`` naming
    the row for one that cannot be read."""
    events: list[HistoryEvent] = []
    for sequence, text in found:
        try:
            if text.startswith("["):  # the events of one commit
                events += [HistoryEvent.from_dict(data) for data in json.loads(text)]
            else:
                events.append(HistoryEvent.from_json(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(
                f"history row {sequence} of instance {instance_id!r} cannot be read: {exc!r}"
            ) from None
    return events


_PLACEHOLDER_TIME = from_micros(0)


def _message(row: tuple[Any, ...]) -> InboxMessage:
    """An inbox row (instance id, id, execution id, event text) as a message; one whose
    event cannot be read carries the reason instead (see :attr:`InboxMessage.error`)."""
    try:
        event = HistoryEvent.from_json(row[3])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        error = f"inbox message {row[1]} of instance {row[0]!r} cannot be read: {exc!r}"
        placeholder = GenericEvent(timestamp=_PLACEHOLDER_TIME, data=None)
        return InboxMessage(message_id=row[1], execution_id=row[2], event=placeholder, error=error)
    return InboxMessage(message_id=row[1], execution_id=row[2], event=event)


def work_items(
    candidates: Sequence[str],
    locked: Sequence[tuple[Any, ...]],
    messages: Sequence[tuple[Any, ...]],
    token: str | None,
) -> list[OrchestrationWorkItem]:
    """Work items of the ``locked`` instance rows with their ``messages`` (rows of
    ``visible_messages``; those of other instances are ignored), in ``candidates`` order."""
    records = {row[0]: record(row) for row in locked}
    inbox: dict[str, list[InboxMessage]] = {instance_id: [] for instance_id in records}
    for row in messages:
        found = inbox.get(row[0])
        if found is not None:
            found.append(_message(row))
    counts = {row[0]: row[11] for row in locked if len(row) > 11}  # leased: counted
    return [
        OrchestrationWorkItem(
            instance=records[i],
            messages=tuple(inbox[i]),
            lock_token=token,
            dequeue_count=counts.get(i, 1),
        )
        for i in candidates
        if i in records
    ]


def activity_item(row: tuple[Any, ...], token: str) -> ActivityWorkItem:
    """The work item of a row returned by ``LOCK_ACTIVITIES``."""
    return ActivityWorkItem(
        message_id=row[0],
        instance_id=row[1],
        execution_id=row[2],
        task_id=row[3],
        name=row[4],
        input=row[5],
        lock_token=token,
        dequeue_count=row[6],
    )
