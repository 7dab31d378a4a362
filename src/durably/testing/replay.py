"""Replay recorded histories against orchestrator code: a replay-safety check.

An orchestrator may change while instances of it are still running: their histories
were recorded by the old code and the new code will replay them. Export the histories
of long-running instances (``durably history ID --json > tests/histories/x.json``),
commit them next to your tests, and replay them on every change::

    import durably.testing
    from myapp import app

    def test_running_instances_still_replay() -> None:
        for path in Path("tests/histories").glob("*.json"):
            durably.testing.replay(app, path)  # raises NonDeterministicOrchestrationError

:func:`replay` finds the orchestrator by the name the history recorded and raises at the
first divergence; ``durably replay MODULE:APP FILE...`` does the same from a shell.
:func:`replay_history` replays one history with a given orchestrator function and
returns a :class:`ReplayReport` without raising. Nothing runs for real: activity
results, timers and events come from the history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never, cast

from durably.actions import Action, CompleteOrchestration
from durably.app import App
from durably.engine.replay import OrchestrationExecutor
from durably.errors import NonDeterministicOrchestrationError
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
from durably.testing._divergence import (
    NO_HISTORY_LIMIT,
    Divergences,
    before_imposed_failure,
    decoded,
    failure_key,
)

Status = OrchestrationRuntimeStatus

HistoryInput = str | bytes | os.PathLike[str] | Sequence[HistoryEvent] | Sequence[Mapping[str, Any]]
"""A history: HistoryEvent objects, their ``to_dict()`` dicts, that list as JSON text, or
the path of a JSON file holding it (a ``str`` that does not start with ``[`` or ``{`` is a
path). A JSON object with a ``historyEvents`` list (a status with its history) is accepted
too."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayReport:
    """What replaying one recorded history with the current code gave.

    ``runtime_status``, ``output`` and ``failure_details`` are the state the replay
    reached (``Failed`` when it found nondeterminism); the ``recorded_*`` fields are the
    state the history itself ends in. ``pending_actions`` are actions the code asks for
    that the history has not recorded yet: what the next episode would schedule.
    """

    instance_id: str
    name: str
    events_replayed: int
    runtime_status: OrchestrationRuntimeStatus
    output: str | None
    failure_details: FailureDetails | None
    recorded_status: OrchestrationRuntimeStatus
    recorded_output: str | None
    recorded_failure_details: FailureDetails | None
    completion: CompleteOrchestration | None
    pending_actions: tuple[Action, ...]
    nondeterminism: NonDeterministicOrchestrationError | None

    @property
    def is_replay_safe(self) -> bool:
        """True if the code replays the history without nondeterminism."""
        return self.nondeterminism is None

    @property
    def differences(self) -> tuple[str, ...]:
        """How the state the replay reached differs from the one history recorded."""
        found: list[str] = []
        if self.nondeterminism is not None:
            found.append(str(self.nondeterminism))
        if self.runtime_status is not self.recorded_status:
            found.append(
                f"history ends {self.recorded_status}, the replay reached {self.runtime_status}"
            )
        elif decoded(self.output) != decoded(self.recorded_output):
            found.append(f"history output {self.recorded_output}, replay output {self.output}")
        elif failure_key(self.failure_details) != failure_key(self.recorded_failure_details):
            found.append(
                f"history failure {self.recorded_failure_details}, "
                f"replay failure {self.failure_details}"
            )
        return tuple(found)

    @property
    def matches_history(self) -> bool:
        """True if the replay is safe and reaches the recorded status and outcome."""
        return not self.differences

    def raise_if_nondeterministic(self) -> None:
        """Raise the NonDeterministicOrchestrationError the replay found, if any."""
        if self.nondeterminism is not None:
            raise self.nondeterminism

    def __str__(self) -> str:
        head = (
            f"replay of {self.name!r} ({self.instance_id}), {self.events_replayed} events: "
            f"{self.runtime_status}"
        )
        return "; ".join((head, *self.differences))


def replay(app: App, history: HistoryInput, *, name: str | None = None) -> ReplayReport:
    """Replay an exported history with the app's current code; raise at the first divergence.

    ``history`` is what ``client.get_history(id)`` returns, its ``to_dict()`` dicts, that
    list as JSON text (what ``durably history ID --json`` writes), or the path of such a
    file (a ``str`` that does not start with ``[`` or ``{`` is a path). The orchestrator
    is the one the history's ``ExecutionStarted`` names, ``name`` if given; the history of
    a sub-orchestration replays against the sub-orchestration's orchestrator.

    Raises :class:`~durably.errors.NonDeterministicOrchestrationError` naming the first
    history position (the 0-based index in the list) where code and history part: a
    scheduling call other than the recorded one, or a missing one; work the code asks for
    in an episode that history recorded without it (new work after the recorded
    completion included); finishing in another episode than history recorded; another
    output, or another failure (failures compare by error type and message). A history
    exported while the instance runs replays cleanly when the code does what it recorded,
    so far. Inputs of scheduled work and timer times are not compared (the worker does not
    compare them either). A history that ends in a failure durably imposed from outside
    the code (``NonDeterministicOrchestrationError``, ``HistoryTooLongError``,
    ``PoisonWorkError``, ``VersionMismatchError``, or "no orchestrator named ..." from a
    worker whose app lacked it) is checked up to the episode that recorded it.

    Returns the :class:`ReplayReport` of a clean replay. Raises ``ValueError`` when
    ``history`` is not a history or the app has no orchestrator of that name, and
    ``OSError`` when the file cannot be read.
    """
    events = load_history(history)
    start = _execution_started(events)
    orchestrator_name = name or start.name
    orchestrator = app.orchestrators.get(orchestrator_name)
    if orchestrator is None:
        raise app.unknown_orchestrator(orchestrator_name)
    checked = before_imposed_failure(events)

    def new_executor() -> OrchestrationExecutor:
        return OrchestrationExecutor(
            orchestrator,
            instance_id=start.instance_id,
            max_payload_bytes=app.max_payload_bytes,
            max_history_events=NO_HISTORY_LIMIT,
            codec=app.codec,
        )

    report = _report(new_executor(), checked, start, start.instance_id)
    divergence = Divergences(new_executor, checked, report).first()
    if divergence is not None:
        raise NonDeterministicOrchestrationError(
            f"orchestrator {orchestrator_name!r} does not replay the history of instance "
            f"{start.instance_id!r}: {divergence}"
        )
    return report


def replay_history(
    orchestrator: Callable[..., Any],
    history_events_or_json: HistoryInput,
    *,
    instance_id: str | None = None,
) -> ReplayReport:
    """Replay a recorded history with ``orchestrator`` and report what happened.

    ``history_events_or_json`` is a list of :class:`~durably.history.HistoryEvent`, a
    list of their ``to_dict()`` dicts, that list as JSON text, or a path to a JSON file.
    The instance id (which ``new_uuid()`` and default sub-orchestration ids depend on)
    comes from the history's ExecutionStarted unless ``instance_id`` is given.

    Nondeterminism does not raise: it is reported in ``ReplayReport.nondeterminism``
    (call ``raise_if_nondeterministic()`` to raise it). Raises ``ValueError`` when the
    history has no ExecutionStarted event. :func:`replay` is the stricter check.
    """
    events = load_history(history_events_or_json)
    start = _execution_started(events)
    instance = instance_id or start.instance_id
    executor = OrchestrationExecutor(orchestrator, instance_id=instance)
    return _report(executor, events, start, instance)


def load_history(history: HistoryInput) -> list[HistoryEvent]:
    """Read a history given as events, dicts, JSON text or the path of a JSON file.

    Raises ``OSError`` when the file cannot be read, ``json.JSONDecodeError`` when the
    text is not JSON and ``ValueError`` when it is not a list of history events.
    """
    data: Any = history
    if isinstance(data, str) and not data.lstrip().startswith(("[", "{")):
        data = Path(data)
    if isinstance(data, os.PathLike):
        with open(data, encoding="utf-8") as file:
            data = json.load(file)
    elif isinstance(data, str | bytes):
        data = json.loads(data)
    if isinstance(data, Mapping):
        if not isinstance(data.get("historyEvents"), list):
            raise ValueError("not a history: a JSON object without a historyEvents list")
        data = data["historyEvents"]
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise ValueError(f"not a history: expected a list of events, got {type(data).__name__}")
    return [_event(index, item) for index, item in enumerate(data)]


def _event(index: int, item: Any) -> HistoryEvent:
    if isinstance(item, HistoryEvent):
        return item
    if not isinstance(item, Mapping):
        raise ValueError(f"not a history: item {index} is a {type(item).__name__}, not an event")
    try:
        return HistoryEvent.from_dict(dict(item))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a history: item {index} is not a history event ({error})") from None


def _execution_started(events: Sequence[HistoryEvent]) -> ExecutionStarted:
    start = next((e for e in events if isinstance(e, ExecutionStarted)), None)
    if start is None:
        empty = " (an instance that has not started has an empty history)" if not events else ""
        raise ValueError(f"the history has no ExecutionStarted event{empty}")
    return start


def _report(
    executor: OrchestrationExecutor,
    events: Sequence[HistoryEvent],
    start: ExecutionStarted,
    instance_id: str,
) -> ReplayReport:
    recorded = _recorded_outcome(events)
    common: dict[str, Any] = {
        "instance_id": instance_id,
        "name": start.name,
        "recorded_status": recorded[0],
        "recorded_output": recorded[1],
        "recorded_failure_details": recorded[2],
    }
    try:
        executor.replay(events)
    except NonDeterministicOrchestrationError as error:
        return ReplayReport(
            events_replayed=executor.history_length,
            runtime_status=Status.Failed,
            output=None,
            failure_details=FailureDetails.from_exception(error),
            completion=None,
            pending_actions=(),
            nondeterminism=error,
            **common,
        )
    # An episode with no new events runs no orchestrator code: it only reads the state.
    probe = executor.execute([], events[-1].timestamp)
    completion = probe.completion
    return ReplayReport(
        events_replayed=len(events),
        runtime_status=probe.runtime_status,
        output=None if completion is not None and completion.failure_details else probe.output,
        failure_details=completion.failure_details if completion else None,
        completion=completion,
        pending_actions=tuple(a for a in probe.actions if not isinstance(a, CompleteOrchestration)),
        nondeterminism=None,
        **common,
    )


def _recorded_outcome(
    events: Sequence[HistoryEvent],
) -> tuple[OrchestrationRuntimeStatus, str | None, FailureDetails | None]:
    status, output, failure = Status.Pending, None, None
    for event in cast(Sequence[AnyHistoryEvent], events):
        match event:
            case ExecutionStarted() | ExecutionResumed():
                status = Status.Running
            case ExecutionSuspended():
                status = Status.Suspended
            case ExecutionTerminated():
                status, output = Status.Terminated, event.input
            case ExecutionCompleted():
                status, output = event.orchestration_status, event.result
                failure = event.failure_details
            case ContinueAsNew():
                status, output = Status.ContinuedAsNew, event.input
            case (
                OrchestratorStarted()
                | OrchestratorCompleted()
                | TaskScheduled()
                | TaskCompleted()
                | TaskFailed()
                | TimerCreated()
                | TimerFired()
                | EventRaised()
                | EventSent()
                | SubOrchestrationInstanceCreated()
                | SubOrchestrationInstanceCompleted()
                | SubOrchestrationInstanceFailed()
                | GenericEvent()
                | EntityOperationCalled()
                | EntityOperationSignaled()
                | EntityOperationCompleted()
                | EntityOperationFailed()
                | EntityLockRequested()
                | EntityLockGranted()
                | EntityUnlockSent()
            ):
                pass  # the outcome does not change
            case _:
                assert_never(event)
    return status, output, failure
