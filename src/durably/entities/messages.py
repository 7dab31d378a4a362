"""The messages of entities: the row an entity lives in, and the requests sent to it."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid

from durably.actions import CallEntity, LockEntities, UnlockEntity
from durably.backends.base import InstanceRecord, NewInstance
from durably.engine.recording import action_event
from durably.entities.ids import EntityId
from durably.history import (
    EntityLockRequested,
    EntityOperationCalled,
    EntityOperationSignaled,
    EntityUnlockSent,
    ExecutionStarted,
    HistoryEvent,
)


def entity_message(
    action: CallEntity | LockEntities | UnlockEntity,
    caller: InstanceRecord,
    now: _dt.datetime,
    trace: str | None = None,
) -> tuple[str, HistoryEvent]:
    """The entity ``action`` goes to and the message it receives there: the event the
    caller's history records for it, naming the caller (to answer a call or grant a
    lock) and, for an operation, its span (``trace``)."""
    event = dataclasses.replace(action_event(action, now), event_id=-1)
    parent, execution = caller.instance_id, caller.execution_id
    match event:
        case EntityOperationSignaled():
            event = dataclasses.replace(
                event, parent_trace_context=trace, sender_instance_id=parent
            )
        case EntityOperationCalled():
            event = dataclasses.replace(
                event,
                parent_instance_id=parent,
                parent_execution_id=execution,
                parent_trace_context=trace,
            )
        case EntityLockRequested():
            event = dataclasses.replace(
                event, parent_instance_id=parent, parent_execution_id=execution
            )
        case EntityUnlockSent():
            event = dataclasses.replace(event, parent_instance_id=parent)
    target = action.lock_set[0] if isinstance(action, LockEntities) else action.instance_id
    return target, event


def entity_instance(instance_id: str, now: _dt.datetime) -> NewInstance:
    """The row an entity is stored in, created by the first message sent to it (a
    commit that finds the row there already creates nothing)."""
    name = EntityId.of(instance_id).name
    return NewInstance(
        instance_id=instance_id,
        name=f"@{name}",
        execution_id=uuid.uuid4().hex,
        created_time=now,
        start_event=ExecutionStarted(timestamp=now, name=f"@{name}", instance_id=instance_id),
        visible_at=now,
    )
