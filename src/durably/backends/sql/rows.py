"""Rows to records and back: the mapping between the tables and the store's records."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
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
from durably.history import (
    ExecutionStarted,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)
from durably.versions import version_key


def key_of(version: str | None) -> str | None:
    """The ``version_key`` column of ``version``."""
    return None if version is None else version_key(version)


def record(row: tuple[Any, ...], *, waiting: bool = False) -> InstanceRecord:
    """The instance of a row of ``INSTANCE_COLUMNS`` (``STATUS_COLUMNS`` with ``waiting``)."""
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
        version=row[11],
        waiting=row[12] if waiting else None,
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
        new.version,
        key_of(new.version),
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
        commit.version,
        key_of(commit.version),
    )


_INPUT_AT = "InputAt"
"""In a stored ExecutionStarted (history or start message): its input is left out, being
its instance row's (stored once, there); the events read back have it."""
_ON_THE_ROW = ',"InputAt":"instance"}'


def event_text(event: HistoryEvent, instance_input: str | None) -> str:
    """The stored JSON of ``event``: an ExecutionStarted whose input is its instance
    row's, ``instance_input``, leaves it out (see ``_INPUT_AT``)."""
    if (
        type(event) is ExecutionStarted
        and event.input is not None
        and event.input == instance_input
    ):
        return dataclasses.replace(event, input=None).to_json()[:-1] + _ON_THE_ROW
    return event.to_json()


def history_text(events: Sequence[HistoryEvent], instance_input: str | None) -> str:
    """One history row for the events one commit appends: the event, or an array of them
    (an ExecutionStarted without the input of its instance row, ``instance_input``).

    One row per commit instead of one per event: fewer statements and index entries,
    fewer pages written per commit. The row's sequence is its first event's number.
    """
    if len(events) == 1:
        return event_text(events[0], instance_input)
    return "[" + ",".join(event_text(event, instance_input) for event in events) + "]"


def _event(data: dict[str, Any], instance_input: Callable[[], str | None]) -> HistoryEvent:
    if data.pop(_INPUT_AT, None) is not None:
        data["Input"] = instance_input()
    return HistoryEvent.from_dict(data)


def history_events(
    instance_id: str,
    found: Sequence[tuple[Any, ...]],
    instance_input: Callable[[], str | None],
) -> list[HistoryEvent]:
    """The events of history rows (sequence, event text), in order; ``ValueError`` naming
    the row for one that cannot be read. ``instance_input`` gives the instance row's
    input, for an ExecutionStarted stored without it."""
    events: list[HistoryEvent] = []
    for sequence, text, *_ in found:
        try:
            data = json.loads(text)
            if isinstance(data, list):  # the events of one commit
                events += [_event(one, instance_input) for one in data]
            else:
                events.append(_event(data, instance_input))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(
                f"history row {sequence} of instance {instance_id!r} cannot be read: {exc!r}"
            ) from None
    return events


_PLACEHOLDER_TIME = from_micros(0)


def _message(row: tuple[Any, ...], instance_input: str | None) -> InboxMessage:
    """An inbox row (instance id, id, execution id, event text) as a message; one whose
    event cannot be read carries the reason instead (see :attr:`InboxMessage.error`).
    ``instance_input`` is its instance row's, for a start message stored without it."""
    try:
        event = _event(json.loads(row[3]), lambda: instance_input)
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
            found.append(_message(row, records[row[0]].input))
    counts = {row[0]: row[12] for row in locked if len(row) > 12}  # leased: counted
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
        trace_context=row[7],
    )
