"""Replay recorded histories against orchestrator code: a replay-safety check.

An orchestrator may change while instances of it are still running: their histories
were recorded by the old code and the new code will replay them. :func:`replay_history`
replays one recorded history into a fresh executor, exactly as a worker would, and
reports whether the code still makes the same scheduling calls (nondeterminism) and
what state it reaches. Export the histories of long-running instances, commit them
next to your tests, and replay them on every change::

    import json
    from pathlib import Path

    history = client.get_history("order-42")
    Path("histories/order-42.json").write_text(json.dumps([e.to_dict() for e in history]))

    # in a test, after changing process_order:
    from durably.testing.replay import replay_history

    report = replay_history(process_order, Path("histories/order-42.json"))
    assert report.is_replay_safe, report

Nothing runs for real: activity results, timers and events come from the history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never, cast

from durably.actions import Action, CompleteOrchestration
from durably.engine.replay import OrchestrationExecutor
from durably.errors import NonDeterministicOrchestrationError
from durably.history import (
    AnyHistoryEvent,
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

HistoryInput = str | bytes | os.PathLike[str] | Sequence[HistoryEvent] | Sequence[Mapping[str, Any]]
"""A history: HistoryEvent objects, their ``to_dict()`` dicts, that list as JSON text, or
the path of a JSON file holding it. A JSON object with a ``historyEvents`` list (a status
with its history) is accepted too."""


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
        elif _decoded(self.output) != _decoded(self.recorded_output):
            found.append(f"history output {self.recorded_output}, replay output {self.output}")
        elif _failure_key(self.failure_details) != _failure_key(self.recorded_failure_details):
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
    history has no ExecutionStarted event.
    """
    events = load_history(history_events_or_json)
    start = next((e for e in events if isinstance(e, ExecutionStarted)), None)
    if start is None:
        raise ValueError("the history has no ExecutionStarted event")
    recorded = _recorded_outcome(events)
    instance = instance_id or start.instance_id
    executor = OrchestrationExecutor(orchestrator, instance_id=instance)
    common: dict[str, Any] = {
        "instance_id": instance,
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


def load_history(history: HistoryInput) -> list[HistoryEvent]:
    """Read a history given as events, dicts, JSON text or a JSON file path."""
    data: Any = history
    if isinstance(data, os.PathLike):
        with open(data, encoding="utf-8") as file:
            data = json.load(file)
    elif isinstance(data, str | bytes):
        data = json.loads(data)
    if isinstance(data, Mapping):
        data = data["historyEvents"]
    return [e if isinstance(e, HistoryEvent) else HistoryEvent.from_dict(dict(e)) for e in data]


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
            ):
                pass  # the outcome does not change
            case _:
                assert_never(event)
    return status, output, failure


def _decoded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _failure_key(failure: FailureDetails | None) -> tuple[str, str] | None:
    """Failures compare by type and message: tracebacks change with any edit to the code."""
    return None if failure is None else (failure.error_type, failure.message)
