"""The messages of entities: the row an entity lives in, and the requests sent to it."""

from __future__ import annotations

import datetime as _dt
import uuid

from durably.actions import CallEntity
from durably.backends.base import InstanceRecord, NewInstance
from durably.entities.ids import EntityId
from durably.history import EntityOperationCalled, EntityOperationSignaled, ExecutionStarted


def entity_request(
    action: CallEntity, caller: InstanceRecord, now: _dt.datetime
) -> EntityOperationCalled | EntityOperationSignaled:
    """The message an entity receives for ``action`` (a call names who to answer)."""
    if action.signal:
        return EntityOperationSignaled(
            timestamp=now,
            request_id=action.request_id,
            operation=action.operation,
            input=action.input,
            target_instance_id=action.instance_id,
        )
    return EntityOperationCalled(
        timestamp=now,
        request_id=action.request_id,
        operation=action.operation,
        input=action.input,
        parent_instance_id=caller.instance_id,
        parent_execution_id=caller.execution_id,
        target_instance_id=action.instance_id,
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
