"""The nondeterminism check: on replay, the orchestrator must ask for what history recorded.

Each scheduling event in history recorded an action the orchestrator asked for under one
task id. On replay the orchestrator must ask, under the same task id, for an action of
the same kind (activity, timer, sub-orchestration, sent event) and the same name.
"""

from __future__ import annotations

from typing import TypeAlias, assert_never

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
from durably.errors import NonDeterministicOrchestrationError
from durably.history import (
    EntityLockRequested,
    EntityOperationCalled,
    EntityOperationSignaled,
    EntityUnlockSent,
    EventSent,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)

ScheduledEvent: TypeAlias = (
    TaskScheduled
    | TimerCreated
    | SubOrchestrationInstanceCreated
    | EventSent
    | EntityOperationCalled
    | EntityOperationSignaled
    | EntityLockRequested
    | EntityUnlockSent
)
"""The history events that record an action the orchestrator asked for."""
SCHEDULED_EVENTS = (
    TaskScheduled,
    TimerCreated,
    SubOrchestrationInstanceCreated,
    EventSent,
    EntityOperationCalled,
    EntityOperationSignaled,
    EntityLockRequested,
    EntityUnlockSent,
)
"""The classes of :data:`ScheduledEvent`, for ``isinstance`` (keep the two together)."""


def check_scheduled(event: ScheduledEvent, action: AnyAction | None, *, position: int) -> None:
    """Raise NonDeterministicOrchestrationError unless ``action`` is what ``event`` recorded.

    ``action`` is what the orchestrator asked for under the event's task id on replay
    (None: nothing); ``position`` is the event's index in history, for the message.
    """
    if action is None:
        raise NonDeterministicOrchestrationError(
            f"history position {position}: history recorded {_describe_event(event)}, but on "
            f"replay the orchestrator did not schedule task {event.event_id}"
        )
    if _kind_and_name(action) != _kind_and_name_of_event(event):
        raise NonDeterministicOrchestrationError(
            f"history position {position}: history recorded {_describe_event(event)}, but on "
            f"replay the orchestrator asked for {_describe_action(action)}"
        )


def _kind_and_name(action: AnyAction) -> tuple[str, str]:
    match action:
        case ScheduleTask():
            return ("activity", action.name)
        case CreateTimer():
            return ("timer", "")
        case StartSubOrchestration():
            return ("sub-orchestration", action.name)
        case SendEvent():
            return ("event", action.name)
        case CallEntity():
            kind = "entity signal" if action.signal else "entity call"
            return (kind, f"{action.instance_id} {action.operation}")
        case LockEntities():
            return ("entity lock", " ".join(action.lock_set))
        case UnlockEntity():
            return ("entity unlock", action.instance_id)
        case CompleteOrchestration():
            return ("completion", "")
        case _:
            assert_never(action)


def _kind_and_name_of_event(event: ScheduledEvent) -> tuple[str, str]:
    match event:
        case TaskScheduled():
            return ("activity", event.name)
        case TimerCreated():
            return ("timer", "")
        case SubOrchestrationInstanceCreated():
            return ("sub-orchestration", event.name)
        case EventSent():
            return ("event", event.name)
        case EntityOperationCalled():
            return ("entity call", f"{event.target_instance_id} {event.operation}")
        case EntityOperationSignaled():
            return ("entity signal", f"{event.target_instance_id} {event.operation}")
        case EntityLockRequested():
            return ("entity lock", " ".join(event.lock_set))
        case EntityUnlockSent():
            return ("entity unlock", event.target_instance_id)
        case _:
            assert_never(event)


def _describe_event(event: ScheduledEvent) -> str:
    kind, name = _kind_and_name_of_event(event)
    return f"{event.event_type} of {kind} {name!r} (task {event.event_id})".replace(" ''", "")


def _describe_action(action: AnyAction) -> str:
    kind, name = _kind_and_name(action)
    return f"{kind} {name!r} (task {action.task_id})".replace(" ''", "")
