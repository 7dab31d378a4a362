"""Rewind: rewrite a Failed instance's history so that its failed work runs again. Pure.

The history is cut at the first failure (the first ``TaskFailed`` or
``SubOrchestrationInstanceFailed``; without one, at the failing ``ExecutionCompleted``).
Everything before the cut stays. After the cut, only what cannot depend on the failure
stays: results of tasks scheduled before the cut, raised events, and episode and
suspension markers. Every other event after the cut (the failures, what the orchestrator
did in reaction to them, the failing ``ExecutionCompleted``) is replaced in place by a
``GenericEvent`` that carries the original event, so history keeps the trace and replay
ignores it. The tasks scheduled before the cut that have no result left are what must run
again; their task ids are unchanged, so results of the work that succeeded are reused.

The rewind request itself travels to the instance as a ``GenericEvent`` whose data is a
JSON marker (see :func:`rewind_request`), and is recorded at the end of the new history.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never, cast

from durably.history import (
    AnyHistoryEvent,
    ContinueAsNew,
    EntityLockGranted,
    EntityLockRequested,
    EntityOperationCalled,
    EntityOperationCompleted,
    EntityOperationFailed,
    EntityOperationSignaled,
    EntityUnlockSent,
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)

_MARKER = "durably.rewind"
_Scheduled = TaskScheduled | TimerCreated | SubOrchestrationInstanceCreated
_KEPT_AFTER_CUT = (
    EventRaised,
    OrchestratorStarted,
    OrchestratorCompleted,
    ExecutionSuspended,
    ExecutionResumed,
    GenericEvent,
)


def rewind_request(reason: str | None, now: _dt.datetime) -> GenericEvent:
    """The message that asks a Failed instance to rewind (``reason`` is JSON text)."""
    body = {"kind": _MARKER, "reason": None if reason is None else json.loads(reason)}
    return GenericEvent(timestamp=now, data=json.dumps(body, separators=(",", ":")))


def is_rewind_request(event: HistoryEvent) -> bool:
    """True for a message made by :func:`rewind_request`."""
    if not isinstance(event, GenericEvent) or not event.data:
        return False
    try:
        body = json.loads(event.data)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("kind") == _MARKER


@dataclass(frozen=True, slots=True, kw_only=True)
class RewindPlan:
    """The rewritten history and the work that must run again."""

    history: tuple[HistoryEvent, ...]
    activities: tuple[TaskScheduled, ...] = ()
    """Activities scheduled before the cut with no result left: run them again."""
    timers: tuple[TimerCreated, ...] = ()
    """Timers created before the cut that have not fired in the kept history."""
    sub_orchestrations: tuple[SubOrchestrationInstanceCreated, ...] = ()
    """Sub-orchestrations started before the cut with no result left."""


def plan_rewind(history: Sequence[HistoryEvent], request: GenericEvent) -> RewindPlan:
    """Rewrite ``history`` for a rewind; ``request`` is appended as the trace of the rewind."""
    cut = _cut(history)
    scheduled: dict[int, _Scheduled] = {}
    done: set[int] = set()
    kept: list[HistoryEvent] = []
    # Every event is one of the concrete classes; HistoryEvent is only their base.
    for index, event in enumerate(cast("Sequence[AnyHistoryEvent]", history)):
        if index < cut:
            if isinstance(event, _Scheduled):
                scheduled[event.event_id] = event
            elif (task_id := _result_of(event)) is not None:
                done.add(task_id)
            kept.append(event)
            continue
        task_id = _result_of(event)
        if task_id is None:
            keep = isinstance(event, _KEPT_AFTER_CUT)
        else:  # a result, kept if it is a success of a task still open before the cut
            failure = isinstance(event, TaskFailed | SubOrchestrationInstanceFailed)
            keep = not failure and task_id in scheduled and task_id not in done
            if keep:
                done.add(task_id)
        kept.append(event if keep else _trace(event))
    kept.append(request)
    open_tasks = [event for task_id, event in sorted(scheduled.items()) if task_id not in done]
    return RewindPlan(
        history=tuple(kept),
        activities=tuple(e for e in open_tasks if isinstance(e, TaskScheduled)),
        timers=tuple(e for e in open_tasks if isinstance(e, TimerCreated)),
        sub_orchestrations=tuple(
            e for e in open_tasks if isinstance(e, SubOrchestrationInstanceCreated)
        ),
    )


def open_sub_orchestrations(history: Sequence[HistoryEvent]) -> list[str]:
    """Instance ids of the sub-orchestrations started in ``history`` with no result yet."""
    started: dict[int, str] = {}
    for event in history:
        if isinstance(event, SubOrchestrationInstanceCreated):
            started[event.event_id] = event.instance_id
        elif isinstance(event, SubOrchestrationInstanceCompleted | SubOrchestrationInstanceFailed):
            started.pop(event.task_scheduled_id, None)
    return list(dict.fromkeys(started.values()))


def _cut(history: Sequence[HistoryEvent]) -> int:
    for index, event in enumerate(history):
        if isinstance(event, TaskFailed | SubOrchestrationInstanceFailed):
            return index
    for index, event in enumerate(history):
        if isinstance(event, ExecutionCompleted):
            return index
    return len(history)


def _result_of(event: AnyHistoryEvent) -> int | None:
    """The task id an event reports the outcome of, or None."""
    match event:
        case (
            TaskCompleted()
            | TaskFailed()
            | SubOrchestrationInstanceCompleted()
            | SubOrchestrationInstanceFailed()
        ):
            return event.task_scheduled_id
        case TimerFired():
            return event.timer_id
        case (
            OrchestratorStarted()
            | OrchestratorCompleted()
            | ExecutionStarted()
            | ExecutionCompleted()
            | ExecutionTerminated()
            | ExecutionSuspended()
            | ExecutionResumed()
            | ContinueAsNew()
            | TaskScheduled()
            | TimerCreated()
            | EventRaised()
            | EventSent()
            | SubOrchestrationInstanceCreated()
            | GenericEvent()
            | EntityOperationCalled()
            | EntityOperationSignaled()
            | EntityOperationCompleted()
            | EntityOperationFailed()
            | EntityLockRequested()
            | EntityLockGranted()
            | EntityUnlockSent()
        ):
            return None  # (an entity's failed answer is not rewound: entities keep state)
        case _:
            assert_never(event)


def _trace(event: HistoryEvent) -> GenericEvent:
    body: dict[str, Any] = {"kind": "durably.rewound", "event": event.to_dict()}
    return GenericEvent(timestamp=event.timestamp, data=json.dumps(body, separators=(",", ":")))
