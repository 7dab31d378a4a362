"""Turn an episode's outcome into the one commit that records it.

Actions become store work: activities go to the activity queue, timers become inbox
messages visible at their fire time, sub-orchestrations become new instances, events for
other instances become their inbox messages, and a finished child notifies its parent.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid
from collections.abc import Callable, Iterator
from typing import assert_never

from durably import tracing
from durably.actions import (
    AnyAction,
    CallEntity,
    CompleteOrchestration,
    CreateTimer,
    LockEntities,
    ScheduleTask,
    SendEvent,
    StartSubOrchestration,
    UnlockEntity,
)
from durably.backends.base import (
    ActivityClaim,
    ActivityTask,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.engine.replay import EpisodeResult
from durably.entities.messages import entity_instance, entity_message
from durably.errors import InstanceExistsError
from durably.history import (
    EventRaised,
    ExecutionStarted,
    FailureDetails,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TimerFired,
)

Status = OrchestrationRuntimeStatus


ClaimActivities = Callable[[int], ActivityClaim | None]
"""Given how many activities a commit schedules, a claim on some of them (or None)."""


def build_commit(
    item: OrchestrationWorkItem,
    result: EpisodeResult,
    *,
    parent: tuple[str, int] | None,
    now: _dt.datetime,
    completed_activities: tuple[int, ...] = (),
    claim: ClaimActivities | None = None,
    version: str | None = None,
    started: ExecutionStarted | None = None,
) -> OrchestrationCommit:
    """The commit for ``result``; ``parent`` is (parent instance id, task id) if any.

    ``completed_activities`` are the activity requests whose results the episode applied
    directly; ``claim`` may claim the scheduled activities for this worker. ``version``
    is the worker's app's: the sub-orchestrations it starts and the execution it
    continues as new get it (the instance's own without one). ``started`` is the
    execution's start event: the trace context its work carries comes from it.
    """
    instance = item.instance
    completion = result.completion
    version = version if version is not None else instance.version
    if completion is not None and completion.status is Status.ContinuedAsNew:
        trace_parent = started.parent_trace_context if started is not None else None
        commit = _continue_as_new(
            item, completion, result.custom_status, parent, now, version, trace_parent
        )
        # The locks of the execution that ends are released with it.
        unlocks = [a for a in result.actions if isinstance(a, UnlockEntity)]
        if not unlocks:
            return commit
        released: list[NewMessage] = []
        rows: list[NewInstance] = []
        for unlock in unlocks:
            _route(unlock, instance, now, [], released, rows, version, None)
        return dataclasses.replace(
            commit,
            messages=(*commit.messages, *released),
            new_instances=(*commit.new_instances, *rows),
        )
    activities: list[ActivityTask] = []
    messages: list[NewMessage] = []
    new_instances: list[NewInstance] = []
    trace = tracing.started_context(started, instance.execution_id) if result.actions else None
    for action in result.actions:
        _route(action, instance, now, activities, messages, new_instances, version, trace)
    if completion is not None and parent is not None:
        messages.append(_notify_parent(parent, completion, now))
    return OrchestrationCommit(
        work_item=item,
        new_events=result.new_events,
        runtime_status=result.runtime_status,
        execution_id=instance.execution_id,
        name=instance.name,
        input=instance.input,
        version=instance.version,
        output=result.output,
        custom_status=result.custom_status,
        last_updated_time=now,
        activities=tuple(activities),
        messages=tuple(messages),
        new_instances=tuple(new_instances),
        completed_activities=completed_activities,
        claim=claim(len(activities)) if claim is not None and activities else None,
    )


def consume_only(item: OrchestrationWorkItem, now: _dt.datetime) -> OrchestrationCommit:
    """A commit that only deletes the messages (for an instance that is already finished)."""
    instance = item.instance
    return OrchestrationCommit(
        work_item=item,
        runtime_status=instance.runtime_status,
        execution_id=instance.execution_id,
        name=instance.name,
        input=instance.input,
        version=instance.version,
        output=instance.output,
        custom_status=instance.custom_status,
        last_updated_time=instance.last_updated_time,
    )


def hand_back(item: OrchestrationWorkItem) -> OrchestrationCommit:
    """A commit that consumes and changes nothing and releases the instance: its work
    waits for another worker."""
    untouched = dataclasses.replace(item, messages=())
    return consume_only(untouched, item.instance.last_updated_time)


def _route(
    action: AnyAction,
    instance: InstanceRecord,
    now: _dt.datetime,
    activities: list[ActivityTask],
    messages: list[NewMessage],
    new_instances: list[NewInstance],
    version: str | None,
    trace: str | None,
) -> None:
    match action:
        case ScheduleTask():
            activities.append(
                ActivityTask(
                    instance_id=instance.instance_id,
                    execution_id=instance.execution_id,
                    task_id=action.task_id,
                    name=action.name,
                    input=action.input,
                    visible_at=now,
                    trace_context=trace,
                )
            )
        case CreateTimer():
            fired = TimerFired(
                timestamp=action.fire_at, timer_id=action.task_id, fire_at=action.fire_at
            )
            messages.append(_message(instance, fired, action.fire_at))
        case StartSubOrchestration():
            child = sub_orchestration_instance(action, instance, now, version, trace)
            new_instances.append(child)
        case SendEvent():
            raised = EventRaised(timestamp=now, name=action.name, input=action.input)
            messages.append(
                NewMessage(instance_id=action.instance_id, event=raised, visible_at=now)
            )
        case CallEntity() | LockEntities() | UnlockEntity():
            target, request = entity_message(action, instance, now, trace)
            if all(new.instance_id != target for new in new_instances):
                new_instances.append(entity_instance(target, now))
            messages.append(NewMessage(instance_id=target, event=request, visible_at=now))
        case CompleteOrchestration():
            pass
        case _:
            assert_never(action)


def _message(instance: InstanceRecord, event: HistoryEvent, at: _dt.datetime) -> NewMessage:
    return NewMessage(
        instance_id=instance.instance_id,
        event=event,
        visible_at=at,
        execution_id=instance.execution_id,
    )


def sub_orchestration_instance(
    action: StartSubOrchestration,
    instance: InstanceRecord,
    now: _dt.datetime,
    version: str | None = None,
    trace: str | None = None,
) -> NewInstance:
    """The child instance to create for ``action``; a conflict fails the parent's task.
    ``trace``: the parent's orchestration span (the child's span is its child)."""
    conflict = InstanceExistsError(action.instance_id, "running")
    failed = SubOrchestrationInstanceFailed(
        timestamp=now,
        task_scheduled_id=action.task_id,
        failure_details=FailureDetails(error_type="InstanceExistsError", message=str(conflict)),
    )
    return NewInstance(
        instance_id=action.instance_id,
        name=action.name,
        execution_id=uuid.uuid4().hex,
        input=action.input,
        parent_instance_id=instance.instance_id,
        created_time=now,
        start_event=ExecutionStarted(
            timestamp=now,
            name=action.name,
            instance_id=action.instance_id,
            input=action.input,
            parent_instance_id=instance.instance_id,
            parent_task_id=action.task_id,
            version=version,
            parent_trace_context=trace,
        ),
        visible_at=now,
        on_conflict=_message(instance, failed, now),
        version=version,
    )


def _notify_parent(
    parent: tuple[str, int], completion: CompleteOrchestration, now: _dt.datetime
) -> NewMessage:
    parent_id, task_id = parent
    event: HistoryEvent
    if completion.status is Status.Completed:
        event = SubOrchestrationInstanceCompleted(
            timestamp=now, task_scheduled_id=task_id, result=completion.result
        )
    else:
        failure = completion.failure_details or FailureDetails(
            error_type="OrchestrationTerminated",
            message=f"sub-orchestration was terminated: {completion.result}",
        )
        event = SubOrchestrationInstanceFailed(
            timestamp=now, task_scheduled_id=task_id, failure_details=failure
        )
    return NewMessage(instance_id=parent_id, event=event, visible_at=now)


def _continue_as_new(
    item: OrchestrationWorkItem,
    completion: CompleteOrchestration,
    custom_status: str | None,
    parent: tuple[str, int] | None,
    now: _dt.datetime,
    version: str | None,
    trace_parent: str | None,
) -> OrchestrationCommit:
    instance = item.instance
    execution_id = uuid.uuid4().hex
    start = ExecutionStarted(
        timestamp=now,
        name=instance.name,
        instance_id=instance.instance_id,
        input=completion.result,
        parent_instance_id=parent[0] if parent else None,
        parent_task_id=parent[1] if parent else -1,
        version=version,
        parent_trace_context=trace_parent,  # the new execution's span: the same parent
    )
    carried = [EventRaised(timestamp=now, name=n, input=i) for n, i in completion.carryover_events]
    messages = tuple(
        _new_execution_messages(instance.instance_id, execution_id, start, carried, now)
    )
    return OrchestrationCommit(
        work_item=item,
        reset_history=True,
        runtime_status=Status.ContinuedAsNew,
        execution_id=execution_id,
        name=instance.name,
        input=completion.result,
        version=version,
        last_updated_time=now,
        custom_status=custom_status,
        messages=messages,
    )


def _new_execution_messages(
    instance_id: str,
    execution_id: str,
    start: ExecutionStarted,
    carried: list[EventRaised],
    now: _dt.datetime,
) -> Iterator[NewMessage]:
    for event in (start, *carried):
        yield NewMessage(
            instance_id=instance_id, event=event, visible_at=now, execution_id=execution_id
        )
