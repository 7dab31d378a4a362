"""The replay driver: history in, actions out. Pure: no I/O, no clock, no threads.

An :class:`OrchestrationExecutor` owns one live generator. ``replay(history)`` feeds it
the recorded events (results come back without running anything and every scheduling
call must match what history recorded); ``execute(new_events, now)`` applies new events,
runs the generator until it blocks, and returns what the episode must commit. A worker
may keep the executor between episodes so that only new events are applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import inspect
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from durably import payload
from durably.actions import (
    Action,
    CompleteOrchestration,
    CreateTimer,
    ScheduleTask,
    SendEvent,
    StartSubOrchestration,
)
from durably.engine.context import OrchestrationContext
from durably.engine.tasks import Task, TimerTask
from durably.errors import NonDeterministicOrchestrationError, TaskFailedError
from durably.history import (
    ContinueAsNew,
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
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

Status = OrchestrationRuntimeStatus
Orchestrator = Callable[[OrchestrationContext], Any]
_ActionEvent = TaskScheduled | TimerCreated | SubOrchestrationInstanceCreated | EventSent


@dataclass(frozen=True, slots=True, kw_only=True)
class EpisodeResult:
    """What one episode must commit."""

    new_events: tuple[HistoryEvent, ...]
    actions: tuple[Action, ...]
    runtime_status: OrchestrationRuntimeStatus
    output: str | None = None
    custom_status: str | None = None
    completion: CompleteOrchestration | None = None


class OrchestrationExecutor:
    """Drives one orchestration instance's generator through its history."""

    def __init__(self, orchestrator: Orchestrator, *, instance_id: str) -> None:
        self._orchestrator = orchestrator
        self._instance_id = instance_id
        self._context: OrchestrationContext | None = None
        self._generator: Generator[Any, Any, Any] | None = None
        self._awaited: Task | None = None
        self._completion: CompleteOrchestration | None = None
        self._suspended = False
        self._held: list[HistoryEvent] = []
        self._position = 0
        self._now: _dt.datetime | None = None
        self.parent: tuple[str, int] | None = None
        """(parent instance id, task id) when this is a sub-orchestration."""

    @property
    def is_done(self) -> bool:
        return self._completion is not None

    @property
    def history_length(self) -> int:
        """How many history events this executor has seen."""
        return self._position

    @property
    def next_timer(self) -> _dt.datetime | None:
        """When the earliest timer the orchestrator waits on fires (None: no timer)."""
        context = self._context
        if context is None:
            return None
        times = [t.fire_at for t in context._pending.values() if isinstance(t, TimerTask)]
        return min(times, default=None)

    def replay(self, history: Sequence[HistoryEvent]) -> None:
        """Re-run the orchestrator against recorded events.

        Raises NonDeterministicOrchestrationError when the orchestrator schedules
        something other than what history recorded.
        """
        for event in history:
            self._apply(event, replaying=True)
            self._position += 1

    def execute(self, new_events: Sequence[HistoryEvent], now: _dt.datetime) -> EpisodeResult:
        """Apply an episode's new events and return what to commit."""
        recorded: list[HistoryEvent] = [OrchestratorStarted(timestamp=now)]
        self._apply(recorded[0], replaying=False)
        for event in new_events:
            if self._apply(event, replaying=False):
                recorded.append(event)
        actions = self._take_new_actions()
        recorded.extend(_action_event(action, now) for action in actions)
        recorded.append(OrchestratorCompleted(timestamp=now))
        completion = self._completion
        if completion is not None:
            recorded.append(_completion_event(completion, now))
        self._position += len(recorded)
        return EpisodeResult(
            new_events=tuple(recorded),
            actions=tuple(actions) + ((completion,) if completion else ()),
            runtime_status=self._status(),
            output=_output(completion),
            custom_status=self._custom_status_text(),
            completion=completion,
        )

    def fail(self, error: BaseException) -> None:
        """Fail the instance from outside (nondeterminism found, unknown orchestrator...)."""
        self._close()
        self._completion = _failed(error)

    # -- event application -------------------------------------------------------
    def _apply(self, event: HistoryEvent, *, replaying: bool) -> bool:
        """Apply one event; False if it is a stale duplicate that must not be recorded."""
        context = self._context
        if context is not None:
            context._replaying = replaying
        if self._completion is not None:
            return self._apply_after_completion(event)
        match event:
            case OrchestratorStarted():
                self._now = event.timestamp
                if context is not None:
                    context._now = event.timestamp
                return True
            case ExecutionStarted():
                if context is not None:
                    return False  # a duplicate start: the execution is already running
                self._start(event, replaying)
                return True
            case TaskScheduled() | TimerCreated() | SubOrchestrationInstanceCreated() | EventSent():
                self._match(event)
                return True
            case ExecutionTerminated():
                self._completion = CompleteOrchestration(
                    task_id=-1, status=Status.Terminated, result=event.input
                )
                self._close()
                return True
            case ExecutionSuspended():
                self._suspended = True
                return True
            case ExecutionResumed():
                self._suspended = False
                held, self._held = self._held, []
                for waiting in held:
                    # Through _apply: a held event may arrive after the execution ended.
                    self._apply(waiting, replaying=replaying)
                return True
            case OrchestratorCompleted() | ExecutionCompleted() | ContinueAsNew() | GenericEvent():
                return True
            case _:
                if context is not None and not self._suspended:
                    return self._deliver(event)
                if self._is_stale(event):
                    return False
                self._held.append(event)
                return True

    def _apply_after_completion(self, event: HistoryEvent) -> bool:
        """Apply an event that comes after the execution ended in this episode or before.

        Scheduling events are still matched, so that an orchestrator that now returns
        earlier than history recorded is caught. A raised event is carried over to the
        execution that continues as new (it arrived in the same batch, after the
        ``continue_as_new``); any other event is dropped and not recorded.
        """
        completion = self._completion
        assert completion is not None
        match event:
            case TaskScheduled() | TimerCreated() | SubOrchestrationInstanceCreated() | EventSent():
                self._match(event)
                return True
            case EventRaised() if completion.status is Status.ContinuedAsNew:
                carried = (*completion.carryover_events, (event.name, event.input))
                self._completion = dataclasses.replace(completion, carryover_events=carried)
                return True
            case _:
                return isinstance(event, OrchestratorStarted | OrchestratorCompleted)

    def _deliver(self, event: HistoryEvent) -> bool:
        context = self._context
        assert context is not None
        match event:
            case TaskCompleted() | SubOrchestrationInstanceCompleted():
                task = context._pending.pop(event.task_scheduled_id, None)
                if task is None:
                    return False
                task._complete(payload.loads(event.result))
            case TaskFailed() | SubOrchestrationInstanceFailed():
                task = context._pending.pop(event.task_scheduled_id, None)
                if task is None:
                    return False
                failure = event.failure_details
                task._fail(
                    TaskFailedError(
                        failure.message, error_type=failure.error_type, details=failure.details
                    )
                )
            case TimerFired():
                timer = context._pending.pop(event.timer_id, None)
                if timer is None:
                    return False
                timer._complete(None)
            case EventRaised():
                context._deliver_event(event.name, event.input)
            case _:
                return False
        self._resume()
        return True

    def _is_stale(self, event: HistoryEvent) -> bool:
        """A completion for a task this instance is not waiting on, or already holds."""
        context = self._context
        if context is None:
            return False
        task_id = _completed_task_id(event)
        if task_id is None:
            return False
        return task_id not in context._pending or any(
            _completed_task_id(held) == task_id for held in self._held
        )

    def _start(self, event: ExecutionStarted, replaying: bool) -> None:
        now = self._now or event.timestamp
        if event.parent_instance_id is not None:
            self.parent = (event.parent_instance_id, event.parent_task_id)
        self._context = context = OrchestrationContext(
            instance_id=self._instance_id,
            name=event.name,
            input_text=event.input,
            parent_instance_id=event.parent_instance_id,
            started_at=now,
        )
        context._replaying = replaying
        if inspect.iscoroutinefunction(self._orchestrator):
            self.fail(TypeError(f"orchestrator {event.name!r} must be a generator, not async def"))
            return
        try:
            outcome = self._orchestrator(context)
        except Exception as exc:
            self._completion = _failed(exc)
            return
        if inspect.isgenerator(outcome):
            self._generator = outcome
            self._step(None, None)
            self._resume()
        else:
            self._finish(outcome)
        held, self._held = self._held, []
        for waiting in held:
            self._apply(waiting, replaying=replaying)

    def _match(self, event: _ActionEvent) -> None:
        context = self._context
        action = context._unmatched.pop(event.event_id, None) if context else None
        expected = _describe_event(event)
        if action is None:
            raise NonDeterministicOrchestrationError(
                f"history position {self._position}: history recorded {expected}, but on replay "
                f"the orchestrator did not schedule task {event.event_id}"
            )
        actual = _describe_action(action)
        if _kind_and_name(action) != _kind_and_name_of_event(event):
            raise NonDeterministicOrchestrationError(
                f"history position {self._position}: history recorded {expected}, but on replay "
                f"the orchestrator asked for {actual}"
            )

    # -- the generator -----------------------------------------------------------
    def _resume(self) -> None:
        while self._completion is None and self._awaited is not None:
            task = self._awaited
            if not task.is_completed:
                return
            self._awaited = None
            if task.is_faulted:
                self._step(None, task.exception)
            else:
                self._step(task.result, None)

    def _step(self, value: Any, error: BaseException | None) -> None:
        generator = self._generator
        assert generator is not None
        try:
            yielded = generator.send(value) if error is None else generator.throw(error)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except Exception as exc:
            self._completion = _failed(exc)
            return
        if not isinstance(yielded, Task):
            self._close()
            self._completion = _failed(
                TypeError(
                    f"orchestrators must yield tasks (call_activity, create_timer, task_all, "
                    f"...), got {type(yielded).__name__}: {yielded!r}"
                )
            )
            return
        self._awaited = yielded

    def _finish(self, result: Any) -> None:
        context = self._context
        assert context is not None
        if context._continue_as_new is not None:
            carry = tuple(context._arrived) + tuple(
                (e.name, e.input) for e in self._held if isinstance(e, EventRaised)
            )
            self._completion = CompleteOrchestration(
                task_id=-1,
                status=Status.ContinuedAsNew,
                result=context._continue_as_new[0],
                carryover_events=carry,
            )
            return
        try:
            text = payload.dumps(result, what="orchestrator output")
        except TypeError as exc:
            self._completion = _failed(exc)
            return
        self._completion = CompleteOrchestration(task_id=-1, status=Status.Completed, result=text)

    def _close(self) -> None:
        if self._generator is not None:
            # User cleanup code that fails must not stop a termination.
            with contextlib.suppress(Exception):
                self._generator.close()
            self._generator = None

    # -- results -----------------------------------------------------------------
    def _take_new_actions(self) -> list[Action]:
        context = self._context
        if context is None:
            return []
        actions = sorted(context._unmatched.values(), key=lambda a: a.task_id)
        context._unmatched.clear()
        completion = self._completion
        if completion is not None and completion.status is not Status.Completed:
            return []  # a failed or terminated instance starts nothing new
        return actions

    def _status(self) -> OrchestrationRuntimeStatus:
        if self._completion is not None:
            return self._completion.status
        if self._suspended:
            return Status.Suspended
        return Status.Running

    def _custom_status_text(self) -> str | None:
        context = self._context
        if context is None or context._custom_status is None:
            return None
        return payload.dumps(context._custom_status, what="custom status")


def _completed_task_id(event: HistoryEvent) -> int | None:
    """The task id a completion event settles, or None for any other event."""
    task_id = getattr(event, "task_scheduled_id", getattr(event, "timer_id", None))
    return task_id if isinstance(task_id, int) else None


def _failed(error: BaseException) -> CompleteOrchestration:
    return CompleteOrchestration(
        task_id=-1, status=Status.Failed, failure_details=FailureDetails.from_exception(error)
    )


def _output(completion: CompleteOrchestration | None) -> str | None:
    if completion is None:
        return None
    if completion.failure_details is not None:
        failure = completion.failure_details
        text = f"{failure.error_type}: {failure.message}"
        return payload.dumps(f"{text}\n{failure.details}" if failure.details else text)
    return completion.result


def _completion_event(completion: CompleteOrchestration, now: _dt.datetime) -> HistoryEvent:
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


def _action_event(action: Action, now: _dt.datetime) -> HistoryEvent:
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
        case CompleteOrchestration():
            raise AssertionError("completion is not a scheduling action")
        case _:
            raise AssertionError(f"unknown action {action!r}")


def _kind_and_name(action: Action) -> tuple[str, str]:
    match action:
        case ScheduleTask():
            return ("activity", action.name)
        case CreateTimer():
            return ("timer", "")
        case StartSubOrchestration():
            return ("sub-orchestration", action.name)
        case SendEvent():
            return ("event", action.name)
        case _:
            return ("completion", "")


def _kind_and_name_of_event(event: _ActionEvent) -> tuple[str, str]:
    match event:
        case TaskScheduled():
            return ("activity", event.name)
        case TimerCreated():
            return ("timer", "")
        case SubOrchestrationInstanceCreated():
            return ("sub-orchestration", event.name)
        case EventSent():
            return ("event", event.name)
        case _:
            assert_never(event)


def _describe_event(event: _ActionEvent) -> str:
    kind, name = _kind_and_name_of_event(event)
    return f"{event.event_type} of {kind} {name!r} (task {event.event_id})".replace(" ''", "")


def _describe_action(action: Action) -> str:
    kind, name = _kind_and_name(action)
    return f"{kind} {name!r} (task {action.task_id})".replace(" ''", "")
