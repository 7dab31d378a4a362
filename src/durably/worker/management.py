"""Episodes for management requests: rewinding a Failed instance, terminating its children.

A rewind request (a marker message sent by :meth:`Client.rewind`) reaches a Failed
instance; the dispatcher then rewrites its history (:mod:`durably.engine.rewind`), replays
the orchestrator against it and commits, with ``reset_history``, the rewritten history, the
episode's own events and the work that must run again: failed or lost activities go back to
the activity queue, open timers are sent again for their fire time, Failed children are
rewound in turn, children that completed while the parent was Failed report again, and
children that are gone are started anew. Status becomes Running.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt

from durably.actions import StartSubOrchestration
from durably.backends.base import (
    ActivityTask,
    Backend,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.engine.replay import OrchestrationExecutor
from durably.engine.rewind import (
    RewindPlan,
    is_rewind_request,
    open_sub_orchestrations,
    plan_rewind,
)
from durably.errors import NonDeterministicOrchestrationError
from durably.history import (
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    TimerFired,
)
from durably.worker.episode import build_commit, sub_orchestration_instance

Status = OrchestrationRuntimeStatus


def rewind_requested(item: OrchestrationWorkItem) -> GenericEvent | None:
    """The first rewind request among the messages of a Failed instance, if any."""
    if item.instance.runtime_status is not Status.Failed:
        return None
    for message in item.messages:
        if isinstance(message.event, GenericEvent) and is_rewind_request(message.event):
            return message.event
    return None


def rewind_commit(
    item: OrchestrationWorkItem,
    request: GenericEvent,
    executor: OrchestrationExecutor,
    backend: Backend,
    now: _dt.datetime,
) -> OrchestrationCommit:
    """The commit that rewinds the Failed instance of ``item`` (``executor`` is fresh)."""
    instance = item.instance
    plan = plan_rewind(backend.get_history(instance.instance_id), request)
    try:
        executor.replay(plan.history)
    except NonDeterministicOrchestrationError as exc:
        executor.fail(exc)
    events = [
        m.event
        for m in item.messages
        if m.event is not request and m.execution_id in (None, instance.execution_id)
    ]
    result = executor.execute(events, now)
    commit = build_commit(item, result, parent=executor.parent, now=now, started=executor.started)
    if commit.reset_history:  # continued as new at once: the new execution starts clean
        return commit
    activities: list[ActivityTask] = []
    messages: list[NewMessage] = []
    new_instances: list[NewInstance] = []
    if not result.runtime_status.is_terminal:
        activities = _rerun_activities(plan, instance, now)
        messages = _refire_timers(plan, instance)
        for child in plan.sub_orchestrations:
            _recover_child(child, instance, backend, request, now, messages, new_instances)
    return dataclasses.replace(
        commit,
        reset_history=True,
        new_events=plan.history + result.new_events,
        activities=commit.activities + tuple(activities),
        messages=commit.messages + tuple(messages),
        new_instances=commit.new_instances + tuple(new_instances),
    )


def terminate_children(
    commit: OrchestrationCommit, events: list[HistoryEvent], backend: Backend, now: _dt.datetime
) -> OrchestrationCommit:
    """Add termination requests for the running children of an instance just terminated."""
    request = next((e for e in events if isinstance(e, ExecutionTerminated)), None)
    if request is None or not request.recurse:
        return commit
    instance_id = commit.work_item.instance.instance_id
    history = [*backend.get_history(instance_id), *commit.new_events]
    terminate = ExecutionTerminated(timestamp=now, input=request.input, recurse=True)
    messages = tuple(
        NewMessage(instance_id=child, event=terminate, visible_at=now)
        for child in open_sub_orchestrations(history)
    )
    return dataclasses.replace(commit, messages=commit.messages + messages)


def _rerun_activities(
    plan: RewindPlan, instance: InstanceRecord, now: _dt.datetime
) -> list[ActivityTask]:
    return [
        ActivityTask(
            instance_id=instance.instance_id,
            execution_id=instance.execution_id,
            task_id=scheduled.event_id,
            name=scheduled.name,
            input=scheduled.input,
            visible_at=now,
        )
        for scheduled in plan.activities
    ]


def _refire_timers(plan: RewindPlan, instance: InstanceRecord) -> list[NewMessage]:
    # A timer's message may have reached the instance while it was Failed and been
    # dropped, or may still wait in the inbox: send it again for its fire time either way
    # (whichever copy comes second is ignored, as is one for a cancelled timer).
    return [
        NewMessage(
            instance_id=instance.instance_id,
            event=TimerFired(
                timestamp=timer.fire_at, timer_id=timer.event_id, fire_at=timer.fire_at
            ),
            visible_at=timer.fire_at,
            execution_id=instance.execution_id,
        )
        for timer in plan.timers
    ]


def _recover_child(
    child: SubOrchestrationInstanceCreated,
    parent: InstanceRecord,
    backend: Backend,
    request: GenericEvent,
    now: _dt.datetime,
    messages: list[NewMessage],
    new_instances: list[NewInstance],
) -> None:
    record = backend.get_instance(child.instance_id)
    ours = record is not None and record.parent_instance_id == parent.instance_id
    if record is not None and ours and record.runtime_status is Status.Failed:
        rewind = dataclasses.replace(request, timestamp=now)
        messages.append(NewMessage(instance_id=child.instance_id, event=rewind, visible_at=now))
    elif record is not None and ours and record.runtime_status is Status.Completed:
        done = SubOrchestrationInstanceCompleted(
            timestamp=now, task_scheduled_id=child.event_id, result=record.output
        )
        messages.append(_to_self(parent, done, now))
    elif record is None or not ours or record.runtime_status.is_terminal:
        start = StartSubOrchestration(
            task_id=child.event_id,
            name=child.name,
            instance_id=child.instance_id,
            input=child.input,
        )
        new_instances.append(sub_orchestration_instance(start, parent, now))
    # Otherwise it is still running and will report when it finishes.


def _to_self(instance: InstanceRecord, event: HistoryEvent, now: _dt.datetime) -> NewMessage:
    return NewMessage(
        instance_id=instance.instance_id,
        event=event,
        visible_at=now,
        execution_id=instance.execution_id,
    )
