"""What an episode records: history events for its new actions and its completion.

Every event an episode appends carries the episode's time ``now`` (the timestamp of its
``OrchestratorStarted``), so that recording the same episode again gives the same history.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import assert_never

from durably import payload
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
from durably.errors import HistoryTooLongError
from durably.history import (
    ContinueAsNew,
    EntityLockRequested,
    EntityOperationCalled,
    EntityOperationSignaled,
    EntityUnlockSent,
    EventSent,
    ExecutionCompleted,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    OrchestratorStarted,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)

Status = OrchestrationRuntimeStatus
_PATCH = "patch"


def patch_marker(name: str, now: _dt.datetime) -> GenericEvent:
    """The history note that the execution took the new path of patch ``name``."""
    return GenericEvent(timestamp=now, data=json.dumps({_PATCH: name}, separators=(",", ":")))


def patch_markers(history: Sequence[HistoryEvent]) -> dict[str, int]:
    """The patches ``history`` records: name -> the episode (1 for the first) that did."""
    found: dict[str, int] = {}
    episode = 0
    for event in history:
        if isinstance(event, OrchestratorStarted):
            episode += 1
        elif isinstance(event, GenericEvent) and event.data and f'"{_PATCH}"' in event.data:
            try:
                name = json.loads(event.data).get(_PATCH)
            except (ValueError, AttributeError):
                continue
            if isinstance(name, str):
                found.setdefault(name, episode)
    return found


def action_event(action: AnyAction, now: _dt.datetime) -> HistoryEvent:
    """The scheduling event that records ``action`` (not a completion)."""
    match action:
        case ScheduleTask():
            return TaskScheduled(
                event_id=action.task_id, timestamp=now, name=action.name, input=action.input
            )
        case CreateTimer():
            return TimerCreated(event_id=action.task_id, timestamp=now, fire_at=action.fire_at)
        case StartSubOrchestration():
            return SubOrchestrationInstanceCreated(
                event_id=action.task_id,
                timestamp=now,
                name=action.name,
                instance_id=action.instance_id,
                input=action.input,
            )
        case SendEvent():
            return EventSent(
                event_id=action.task_id,
                timestamp=now,
                instance_id=action.instance_id,
                name=action.name,
                input=action.input,
            )
        case CallEntity(signal=True):
            return EntityOperationSignaled(
                event_id=action.task_id,
                timestamp=now,
                request_id=action.request_id,
                operation=action.operation,
                input=action.input,
                target_instance_id=action.instance_id,
            )
        case CallEntity():
            return EntityOperationCalled(
                event_id=action.task_id,
                timestamp=now,
                request_id=action.request_id,
                operation=action.operation,
                input=action.input,
                target_instance_id=action.instance_id,
            )
        case LockEntities():
            return EntityLockRequested(
                event_id=action.task_id,
                timestamp=now,
                critical_section_id=action.section_id,
                lock_set=list(action.lock_set),
            )
        case UnlockEntity():
            return EntityUnlockSent(
                event_id=action.task_id,
                timestamp=now,
                critical_section_id=action.section_id,
                target_instance_id=action.instance_id,
            )
        case CompleteOrchestration():
            raise AssertionError("completion is not a scheduling action")
        case _:
            assert_never(action)


def completion_event(completion: CompleteOrchestration, now: _dt.datetime) -> HistoryEvent:
    """The event that ends the execution: ``ContinueAsNew`` or ``ExecutionCompleted``."""
    if completion.status is Status.ContinuedAsNew:
        return ContinueAsNew(timestamp=now, input=completion.result)
    if completion.status is Status.Terminated:
        return ExecutionCompleted(
            timestamp=now, orchestration_status=completion.status, result=completion.result
        )
    return ExecutionCompleted(
        timestamp=now,
        orchestration_status=completion.status,
        result=completion.result,
        failure_details=completion.failure_details,
    )


def output_text(completion: CompleteOrchestration | None) -> str | None:
    """The instance's output: the result, or for a failure its error and traceback as JSON."""
    if completion is None:
        return None
    if completion.failure_details is not None:
        failure = completion.failure_details
        text = f"{failure.error_type}: {failure.message}"
        return payload.dumps(f"{text}\n{failure.details}" if failure.details else text)
    return completion.result


def history_too_long(length: int, limit: int) -> HistoryTooLongError:
    """The failure of an episode that would bring its history past ``limit`` events."""
    return HistoryTooLongError(
        f"this episode would bring the execution's history to {length:,} events, over the "
        f"limit of {limit:,} (max_history_events): call context.continue_as_new to go on "
        "with a fresh history"
    )


def failure_completion(error: BaseException) -> CompleteOrchestration:
    """The completion of an execution that fails with ``error``."""
    return CompleteOrchestration(
        task_id=-1, status=Status.Failed, failure_details=FailureDetails.from_exception(error)
    )
