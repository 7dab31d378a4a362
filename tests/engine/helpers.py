"""Hand-built history events and a driver that runs one instance episode by episode.

``Run`` executes each episode on one cached executor *and* on a fresh executor that
replays the whole accumulated history first, and asserts both give exactly the same
result, so every test that uses it also checks that the cache never changes an outcome.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from durably.engine.context import OrchestrationContext
from durably.engine.replay import EpisodeResult, OrchestrationExecutor
from durably.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)

Orchestrator = Callable[[OrchestrationContext], Any]

T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)


def at(seconds: float) -> _dt.datetime:
    """The time ``seconds`` after T0."""
    return T0 + _dt.timedelta(seconds=seconds)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def started(
    input_: Any = None,
    *,
    name: str = "orch",
    instance_id: str = "x",
    when: float = 0,
    parent_instance_id: str | None = None,
) -> ExecutionStarted:
    return ExecutionStarted(
        timestamp=at(when),
        name=name,
        instance_id=instance_id,
        input=_json(input_),
        parent_instance_id=parent_instance_id,
        parent_task_id=-1 if parent_instance_id is None else 0,
    )


def completed(task_id: int, result: Any = None, *, when: float = 0) -> TaskCompleted:
    return TaskCompleted(timestamp=at(when), task_scheduled_id=task_id, result=_json(result))


def failure(error_type: str = "ValueError", message: str = "boom") -> FailureDetails:
    return FailureDetails(error_type=error_type, message=message, details=f"Traceback: {message}")


def failed(
    task_id: int, error_type: str = "ValueError", message: str = "boom", *, when: float = 0
) -> TaskFailed:
    return TaskFailed(
        timestamp=at(when), task_scheduled_id=task_id, failure_details=failure(error_type, message)
    )


def sub_completed(
    task_id: int, result: Any = None, *, when: float = 0
) -> SubOrchestrationInstanceCompleted:
    return SubOrchestrationInstanceCompleted(
        timestamp=at(when), task_scheduled_id=task_id, result=_json(result)
    )


def sub_failed(
    task_id: int, error_type: str = "ValueError", message: str = "boom", *, when: float = 0
) -> SubOrchestrationInstanceFailed:
    return SubOrchestrationInstanceFailed(
        timestamp=at(when), task_scheduled_id=task_id, failure_details=failure(error_type, message)
    )


def fired(timer_id: int, fire_at: _dt.datetime) -> TimerFired:
    return TimerFired(timestamp=fire_at, timer_id=timer_id, fire_at=fire_at)


def raised(name: str, data: Any = None, *, when: float = 0) -> EventRaised:
    return EventRaised(timestamp=at(when), name=name, input=_json(data))


def terminated(reason: Any = "stop", *, when: float = 0) -> ExecutionTerminated:
    return ExecutionTerminated(timestamp=at(when), input=_json(reason))


def suspended(*, when: float = 0) -> ExecutionSuspended:
    return ExecutionSuspended(timestamp=at(when), reason="hold")


def resumed(*, when: float = 0) -> ExecutionResumed:
    return ExecutionResumed(timestamp=at(when), reason="go")


def event_types(events: Sequence[HistoryEvent]) -> list[str]:
    return [event.event_type for event in events]


def output(result: EpisodeResult) -> Any:
    """The episode's output decoded from JSON."""
    return None if result.output is None else json.loads(result.output)


class Run:
    """One orchestration instance driven episode by episode, with its accumulated history."""

    def __init__(
        self, orchestrator: Orchestrator, *, instance_id: str = "x", name: str = "orch"
    ) -> None:
        self.orchestrator = orchestrator
        self.instance_id = instance_id
        self.name = name
        self.executor = OrchestrationExecutor(orchestrator, instance_id=instance_id)
        self.history: list[HistoryEvent] = []

    def start(
        self, input_: Any = None, *, when: float = 0, parent_instance_id: str | None = None
    ) -> EpisodeResult:
        event = started(
            input_,
            name=self.name,
            instance_id=self.instance_id,
            when=when,
            parent_instance_id=parent_instance_id,
        )
        return self.episode(event, when=when)

    def episode(self, *events: HistoryEvent, when: float | _dt.datetime) -> EpisodeResult:
        """Execute one episode; checks that a full replay reaches the very same result."""
        now = when if isinstance(when, _dt.datetime) else at(when)
        fresh = OrchestrationExecutor(self.orchestrator, instance_id=self.instance_id)
        fresh.replay(self.history)
        expected = fresh.execute(events, now)
        result = self.executor.execute(events, now)
        assert result == expected, "the cached executor diverged from a full replay"
        self.history.extend(result.new_events)
        return result

    def replayed(self) -> OrchestrationExecutor:
        """A fresh executor that replayed the whole history."""
        executor = OrchestrationExecutor(self.orchestrator, instance_id=self.instance_id)
        executor.replay(self.history)
        return executor
