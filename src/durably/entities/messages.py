"""The messages of entities: the row an entity lives in, and the requests sent to it."""

from __future__ import annotations

import datetime as _dt
import uuid

from durably.actions import CallEntity, LockEntities, UnlockEntity
from durably.backends.base import InstanceRecord, NewInstance
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
    """The entity ``action`` goes to and the message it receives there (a call or a lock
    request names the caller, to answer it)."""
    if isinstance(action, LockEntities):
        return action.lock_set[0], EntityLockRequested(
            timestamp=now,
            critical_section_id=action.section_id,
            lock_set=list(action.lock_set),
            position=0,
            parent_instance_id=caller.instance_id,
            parent_execution_id=caller.execution_id,
        )
    if isinstance(action, UnlockEntity):
        return action.instance_id, EntityUnlockSent(
            timestamp=now,
            critical_section_id=action.section_id,
            parent_instance_id=caller.instance_id,
            target_instance_id=action.instance_id,
        )
    return action.instance_id, entity_request(action, caller, now, trace)


def entity_request(
    action: CallEntity, caller: InstanceRecord, now: _dt.datetime, trace: str | None = None
) -> EntityOperationCalled | EntityOperationSignaled:
    """The message an entity receives for an operation (a call names who to answer);
    ``trace``: the caller's orchestration span."""
    if action.signal:
        return EntityOperationSignaled(
            timestamp=now,
            request_id=action.request_id,
            operation=action.operation,
            input=action.input,
            target_instance_id=action.instance_id,
            parent_trace_context=trace,
            sender_instance_id=caller.instance_id,
        )
    return EntityOperationCalled(
        timestamp=now,
        request_id=action.request_id,
        operation=action.operation,
        input=action.input,
        parent_instance_id=caller.instance_id,
        parent_execution_id=caller.execution_id,
        target_instance_id=action.instance_id,
        parent_trace_context=trace,
    )


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
