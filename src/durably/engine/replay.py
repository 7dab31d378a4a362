"""The replay driver: history in, actions out. Pure: no I/O, no clock, no threads.

An :class:`OrchestrationExecutor` owns one live generator and the
:class:`~durably.engine.state.OrchestrationState` of its execution. ``replay(history)``
feeds it the recorded events (results come back without running anything and every
scheduling call must match what history recorded); ``execute(new_events, now)`` applies
new events, runs the generator until it blocks, and returns what the episode must
commit. A worker may keep the executor between episodes so that only new events are
applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import inspect
from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, assert_never, cast

from durably import payload
from durably.actions import AnyAction, CompleteOrchestration, LockEntities, UnlockEntity
from durably.codecs import Codec
from durably.engine.awaiting import awaited_by, needs_an_event_loop, not_a_task, raised_in
from durably.engine.context import OrchestrationContext
from durably.engine.locks import release_all
from durably.engine.nondeterminism import SCHEDULED_EVENTS, ScheduledEvent, check_scheduled
from durably.engine.recording import (
    action_event,
    completion_event,
    failure_completion,
    history_too_long,
    output_text,
    patch_markers,
)
from durably.engine.state import OrchestrationState
from durably.engine.tasks import Task, TimerTask
from durably.errors import PayloadTooLargeError, TaskFailedError
from durably.history import (
    AnyHistoryEvent,
    ContinueAsNew,
    EntityLockGranted,
    EntityLockRequested,
    EntityOperationCompleted,
    EntityOperationFailed,
    EntityUnlockSent,
    EventRaised,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)
from durably.limits import DEFAULT_MAX_HISTORY_EVENTS

Status = OrchestrationRuntimeStatus
Orchestrator = Callable[[OrchestrationContext], Any]
_Message: TypeAlias = (
    TaskCompleted
    | TaskFailed
    | TimerFired
    | EventRaised
    | SubOrchestrationInstanceCompleted
    | SubOrchestrationInstanceFailed
    | EntityOperationCompleted
    | EntityOperationFailed
    | EntityLockGranted
)
"""Events sent to the instance that settle what the orchestrator may wait on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EpisodeResult:
    """What one episode must commit."""

    new_events: tuple[HistoryEvent, ...]
    actions: tuple[AnyAction, ...]
    runtime_status: OrchestrationRuntimeStatus
    output: str | None = None
    custom_status: str | None = None
    completion: CompleteOrchestration | None = None


class OrchestrationExecutor:
    """Drives one orchestration instance's generator through its history."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        *,
        instance_id: str,
        max_payload_bytes: int = payload.DEFAULT_MAX_PAYLOAD_BYTES,
        max_history_events: int = DEFAULT_MAX_HISTORY_EVENTS,
        codec: Codec | None = None,
    ) -> None:
        self._orchestrator = orchestrator
        self._codec = codec
        self._instance_id = instance_id
        self._max_payload_bytes = max_payload_bytes
        self._max_history_events = max_history_events
        self._state: OrchestrationState | None = None  # created by ExecutionStarted
        self._generator: Generator[Any, Any, Any] | Coroutine[Any, Any, Any] | None = None
        self._awaited: Task[Any] | None = None
        self._completion: CompleteOrchestration | None = None
        self._suspended = False
        self._held: list[_Message] = []  # while suspended or not yet started
        self._position = 0
        self._episode = 0
        self._patches: dict[str, int] = {}  # recorded in the history being replayed
        self._now: _dt.datetime | None = None  # the episode's time until the state holds it
        self.parent: tuple[str, int] | None = None
        """(parent instance id, task id) when this is a sub-orchestration."""
        self.started: ExecutionStarted | None = None
        """The start event of the execution (once seen)."""
        self.timers_fired: list[TimerTask] = []
        self._recorded_sections: dict[str, tuple[str, ...]] = {}  # requested, not released
        """The timers that fired in the last episode (for their trace spans)."""

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
        state = self._state
        if state is None:
            return None
        times = [t.fire_at for t in state.pending.values() if isinstance(t, TimerTask)]
        return min(times, default=None)

    def replay(self, history: Sequence[HistoryEvent]) -> None:
        """Re-run the orchestrator against recorded events.

        Raises NonDeterministicOrchestrationError when the orchestrator schedules
        something other than what history recorded.
        """
        self._patches = patch_markers(history)
        for event in _concrete(history):
            self._apply(event, replaying=True)
            self._position += 1

    def execute(self, new_events: Sequence[HistoryEvent], now: _dt.datetime) -> EpisodeResult:
        """Apply an episode's new events and return what to commit."""
        started = OrchestratorStarted(timestamp=now)
        recorded: list[HistoryEvent] = [started]
        self.timers_fired = []
        self._apply(started, replaying=False)
        for event in _concrete(new_events):
            if self._apply(event, replaying=False):
                recorded.append(event)
        if self._completion is not None and self._state is not None:
            # A section still held ends with the execution: those the code asked for,
            # and those history recorded (the code may have failed before asking again).
            release_all(self._state, self._recorded_sections)
        actions = self._take_new_actions()
        if self._state is not None:
            recorded.extend(self._state.take_patch_markers(now))
        # The events below, the completion's included: is there room for them?
        length = self._position + len(recorded) + len(actions) + 2
        if length > self._max_history_events and self._completion is None:
            self.fail(history_too_long(length, self._max_history_events))
            actions = []
        for action in actions:  # what history will record, for a later episode's end
            if isinstance(action, LockEntities):
                self._recorded_sections[action.section_id] = action.lock_set
            elif isinstance(action, UnlockEntity):
                self._recorded_sections.pop(action.section_id, None)
        recorded.extend(action_event(action, now) for action in actions)
        recorded.append(OrchestratorCompleted(timestamp=now))
        completion = self._completion
        if completion is not None:
            recorded.append(completion_event(completion, now))
        self._position += len(recorded)
        return EpisodeResult(
            new_events=tuple(recorded),
            actions=tuple(actions) + ((completion,) if completion else ()),
            runtime_status=self._status(),
            output=output_text(completion),
            custom_status=self._custom_status_text(),
            completion=completion,
        )

    def fail(self, error: BaseException) -> None:
        """Fail the instance from outside (nondeterminism found, unknown orchestrator...)."""
        self._close()
        self._completion = failure_completion(error)

    # -- event application -------------------------------------------------------
    def _apply(self, event: AnyHistoryEvent, *, replaying: bool) -> bool:
        """Apply one event; False if it is a stale duplicate that must not be recorded."""
        state = self._state
        if state is not None:
            state.is_replaying = replaying
        if self._completion is not None:
            return self._apply_after_completion(event)
        if isinstance(event, SCHEDULED_EVENTS):
            return self._apply_scheduled(event)
        match event:  # the arms are tried in turn: the most frequent events come first
            case OrchestratorStarted():
                return self._apply_orchestrator_started(event)
            case (
                TaskCompleted()
                | TaskFailed()
                | TimerFired()
                | EventRaised()
                | SubOrchestrationInstanceCompleted()
                | SubOrchestrationInstanceFailed()
                | EntityOperationCompleted()
                | EntityOperationFailed()
                | EntityLockGranted()
            ):
                return self._apply_message(event)
            case OrchestratorCompleted() | ExecutionCompleted() | ContinueAsNew() | GenericEvent():
                return True
            case ExecutionStarted():
                return self._apply_execution_started(event, replaying)
            case ExecutionTerminated():
                return self._apply_terminated(event)
            case ExecutionSuspended():
                return self._apply_suspended()
            case ExecutionResumed():
                return self._apply_resumed(replaying)
            case _:
                assert_never(event)

    def _apply_after_completion(self, event: AnyHistoryEvent) -> bool:
        """Apply an event that comes after the execution ended in this episode or before.

        Scheduling events are still matched, so that an orchestrator that now returns
        earlier than history recorded is caught. A raised event is carried over to the
        execution that continues as new (it arrived in the same batch, after the
        ``continue_as_new``); any other event is dropped and not recorded.
        """
        completion = self._completion
        assert completion is not None
        if isinstance(event, SCHEDULED_EVENTS):
            return self._apply_scheduled(event)
        match event:
            case EventRaised():
                if completion.status is not Status.ContinuedAsNew:
                    return False
                carried = (*completion.carryover_events, (event.name, event.input))
                self._completion = dataclasses.replace(completion, carryover_events=carried)
                return True
            case OrchestratorStarted() | OrchestratorCompleted():
                return True
            case (
                TaskCompleted()
                | TaskFailed()
                | TimerFired()
                | SubOrchestrationInstanceCompleted()
                | SubOrchestrationInstanceFailed()
                | ExecutionStarted()
                | ExecutionCompleted()
                | ExecutionTerminated()
                | ExecutionSuspended()
                | ExecutionResumed()
                | ContinueAsNew()
                | GenericEvent()
                | EntityOperationCompleted()
                | EntityOperationFailed()
                | EntityLockGranted()
            ):
                return False
            case _:
                assert_never(event)

    def _apply_scheduled(self, event: ScheduledEvent) -> bool:
        """Match a recorded scheduling event with the action the orchestrator asked for."""
        state = self._state
        if isinstance(event, EntityLockRequested):  # kept even if the code now diverges
            self._recorded_sections[event.critical_section_id] = tuple(event.lock_set)
        elif isinstance(event, EntityUnlockSent):
            self._recorded_sections.pop(event.critical_section_id, None)
        action = state.unmatched.pop(event.event_id, None) if state is not None else None
        check_scheduled(event, action, position=self._position)
        return True

    def _apply_message(self, event: _Message) -> bool:
        """Settle the task ``event`` is for and resume; held while suspended or not started."""
        state = self._state
        if state is None or self._suspended:
            return self._hold(event)
        match event:
            case TaskCompleted() | SubOrchestrationInstanceCompleted():
                task = state.pending.pop(event.task_scheduled_id, None)
                if task is None:
                    return False
                task.complete_json(event.result, state.codec)
            case EntityLockGranted():
                section = state.entity_requests.pop(event.critical_section_id, -1)
                task = state.pending.pop(section, None)
                if task is None:
                    return False
                task._complete(state.lock_granted(event.critical_section_id))
            case EntityOperationCompleted():
                task = state.pending.pop(state.entity_requests.pop(event.request_id, -1), None)
                if task is None:
                    return False
                task.complete_json(event.output, state.codec)
            case TaskFailed() | SubOrchestrationInstanceFailed() | EntityOperationFailed():
                if isinstance(event, EntityOperationFailed):
                    task_id = state.entity_requests.pop(event.request_id, -1)
                else:
                    task_id = event.task_scheduled_id
                task = state.pending.pop(task_id, None)
                if task is None:
                    return False
                failure = event.failure_details
                task._fail(
                    TaskFailedError(
                        failure.message, error_type=failure.error_type, details=failure.details
                    )
                )
            case TimerFired():
                timer = state.pending.pop(event.timer_id, None)
                if timer is None:
                    return False
                timer._complete(None)
                if not state.is_replaying and isinstance(timer, TimerTask):
                    self.timers_fired.append(timer)
            case EventRaised():
                state.deliver_event(event.name, event.input)
            case _:
                assert_never(event)
        self._resume()
        return True

    def _hold(self, event: _Message) -> bool:
        """Keep ``event`` for when the execution starts or resumes; False if it is stale."""
        if self._is_stale(event):
            return False
        self._held.append(event)
        return True

    def _is_stale(self, event: _Message) -> bool:
        """A completion for a task this instance is not waiting on, or already holds."""
        state = self._state
        if state is None:
            return False
        task_id = _completed_task_id(event)
        if task_id is None:
            return False
        return task_id not in state.pending or any(
            _completed_task_id(held) == task_id for held in self._held
        )

    def _apply_orchestrator_started(self, event: OrchestratorStarted) -> bool:
        self._episode += 1
        if self._state is None:
            self._now = event.timestamp
        else:
            self._state.now = event.timestamp
            self._state.episode = self._episode
        return True

    def _apply_execution_started(self, event: ExecutionStarted, replaying: bool) -> bool:
        if self._state is not None:
            return False  # a duplicate start: the execution is already running
        self.started = event
        if event.parent_instance_id is not None:
            self.parent = (event.parent_instance_id, event.parent_task_id)
        now = self._now or event.timestamp
        self._state = state = OrchestrationState(
            now=now,
            is_replaying=replaying,
            max_payload_bytes=self._max_payload_bytes,
            codec=self._codec,
            episode=self._episode,
            patches=dict(self._patches),
        )
        context = OrchestrationContext(
            state,
            instance_id=self._instance_id,
            name=event.name,
            input_text=event.input,
            parent_instance_id=event.parent_instance_id,
            version=event.version,
        )
        if self._begin(context, event.name):
            held, self._held = self._held, []
            for waiting in held:
                self._apply(waiting, replaying=replaying)
        return True

    def _apply_terminated(self, event: ExecutionTerminated) -> bool:
        self._completion = CompleteOrchestration(
            task_id=-1, status=Status.Terminated, result=event.input
        )
        self._close()
        return True

    def _apply_suspended(self) -> bool:
        self._suspended = True
        return True

    def _apply_resumed(self, replaying: bool) -> bool:
        self._suspended = False
        held, self._held = self._held, []
        for waiting in held:
            # Through _apply: a held event may arrive after the execution ended.
            self._apply(waiting, replaying=replaying)
        return True

    # -- the generator -----------------------------------------------------------
    def _begin(self, context: OrchestrationContext, name: str) -> bool:
        """Call the orchestrator and run it to its first yield (a generator) or await (an
        ``async def``: a coroutine, driven the same way); False if it could not run."""
        try:
            outcome = self._orchestrator(context)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too, as in _step
            self._completion = failure_completion(exc)
            return False
        if inspect.isgenerator(outcome) or inspect.iscoroutine(outcome):
            self._generator = outcome
            self._step(None, None)
            self._resume()
        else:
            self._finish(outcome)
        return True

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
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: it fails the instance, never hangs it
            if inspect.iscoroutine(generator) and needs_an_event_loop(exc):
                exc = not_a_task(raised_in(exc))
            self._completion = failure_completion(exc)
            return
        if not isinstance(yielded, Task):
            wrong: BaseException
            if inspect.iscoroutine(generator):
                wrong = not_a_task(awaited_by(generator, yielded))
            else:
                wrong = TypeError(
                    f"orchestrators must yield tasks (call_activity, create_timer, task_all, "
                    f"...), got {type(yielded).__name__}: {yielded!r}"
                )
            self._close()
            self._completion = failure_completion(wrong)
            return
        self._awaited = yielded

    def _finish(self, result: Any) -> None:
        state = self._state
        assert state is not None
        if state.continues_as_new:
            carry = tuple(state.arrived) + tuple(
                (e.name, e.input) for e in self._held if isinstance(e, EventRaised)
            )
            self._completion = CompleteOrchestration(
                task_id=-1,
                status=Status.ContinuedAsNew,
                result=state.next_input,
                carryover_events=carry,
            )
            return
        try:
            text = payload.dumps(
                result, what="orchestrator output", limit=state.max_payload_bytes, codec=state.codec
            )
        except (TypeError, PayloadTooLargeError) as exc:
            self._completion = failure_completion(exc)
            return
        self._completion = CompleteOrchestration(task_id=-1, status=Status.Completed, result=text)

    def _close(self) -> None:
        if self._generator is not None:
            # User cleanup code that fails must not stop a termination.
            with contextlib.suppress(Exception):
                self._generator.close()
            self._generator = None

    # -- results -----------------------------------------------------------------
    def _take_new_actions(self) -> list[AnyAction]:
        state = self._state
        if state is None:
            return []
        actions = sorted(state.unmatched.values(), key=lambda a: a.task_id)
        state.unmatched.clear()
        completion = self._completion
        if completion is not None and completion.status is not Status.Completed:
            # A failed or terminated instance starts nothing new; it releases its locks.
            return [action for action in actions if isinstance(action, UnlockEntity)]
        return actions

    def _status(self) -> OrchestrationRuntimeStatus:
        if self._completion is not None:
            return self._completion.status
        if self._suspended:
            return Status.Suspended
        return Status.Running

    def _custom_status_text(self) -> str | None:
        state = self._state
        if state is None or state.custom_status is None:
            return None
        # Checked when set.
        return payload.dumps(state.custom_status, what="custom status", codec=state.codec)


def _concrete(events: Sequence[HistoryEvent]) -> Sequence[AnyHistoryEvent]:
    """``events`` as what they are: ``HistoryEvent`` is only the base of the event classes."""
    return cast("Sequence[AnyHistoryEvent]", events)


def _completed_task_id(event: _Message) -> int | None:
    """The task id a completion event settles, or None for a raised event."""
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
            EventRaised()
            | EntityOperationCompleted()
            | EntityOperationFailed()
            | EntityLockGranted()
        ):
            return None  # (an entity's answer names its request, not a task)
        case _:
            assert_never(event)
