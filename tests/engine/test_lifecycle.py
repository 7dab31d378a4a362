"""Duplicates, termination, suspension and resumption."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from durably.engine.context import OrchestrationContext
from durably.history import ExecutionCompleted, OrchestrationRuntimeStatus

from .helpers import (
    Run,
    at,
    completed,
    event_types,
    failed,
    fired,
    output,
    raised,
    resumed,
    started,
    suspended,
    terminated,
)

Status = OrchestrationRuntimeStatus


def pair(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_activity("a")
    second = yield context.call_activity("b")
    return [first, second]


def test_duplicate_completion_in_a_later_episode_is_dropped_and_not_recorded() -> None:
    run = Run(pair)
    run.start()
    run.episode(completed(0, 1), when=1)
    result = run.episode(completed(0, 99), when=2)
    assert event_types(result.new_events) == ["OrchestratorStarted", "OrchestratorCompleted"]
    assert output(run.episode(completed(1, 2), when=3)) == [1, 2]


def test_duplicate_completion_in_the_same_batch_is_dropped() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(completed(0, 1), completed(0, 99), when=1)
    assert event_types(result.new_events).count("TaskCompleted") == 1
    assert output(run.episode(completed(1, 2), when=2)) == [1, 2]


def test_failure_after_a_completion_of_the_same_task_is_dropped() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(completed(0, 1), failed(0), when=1)
    assert "TaskFailed" not in event_types(result.new_events)
    assert result.runtime_status is Status.Running


def test_completion_for_a_task_never_scheduled_is_dropped() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(completed(5), when=1)
    assert event_types(result.new_events) == ["OrchestratorStarted", "OrchestratorCompleted"]


def test_termination_ends_the_instance_with_the_reason() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(terminated("operator said so"), when=1)
    assert result.runtime_status is Status.Terminated
    assert output(result) == "operator said so"
    assert event_types(result.new_events) == [
        "OrchestratorStarted",
        "ExecutionTerminated",
        "OrchestratorCompleted",
        "ExecutionCompleted",
    ]
    last = result.new_events[-1]
    assert isinstance(last, ExecutionCompleted)
    assert last.orchestration_status is Status.Terminated


def test_termination_runs_the_orchestrators_cleanup_and_schedules_nothing() -> None:
    cleaned: list[str] = []

    def tidy(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        try:
            yield context.call_activity("a")
        finally:
            cleaned.append("cleanup")

    run = Run(tidy)
    run.start()
    cleaned.clear()
    result = run.episode(completed(0), terminated(), when=1)
    assert result.actions == (result.completion,)
    assert cleaned == ["cleanup", "cleanup"]  # once in the cached executor, once in the replay


def test_events_after_termination_are_dropped() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(terminated(), completed(0), raised("x"), when=1)
    assert "TaskCompleted" not in event_types(result.new_events)
    assert "EventRaised" not in event_types(result.new_events)


def test_suspended_instance_reports_suspended() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(suspended(), when=1)
    assert result.runtime_status is Status.Suspended


def test_suspension_holds_events_until_resumed() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(suspended(), completed(0, 1), when=1)
    assert result.actions == ()
    assert "TaskCompleted" in event_types(result.new_events)  # recorded now, applied later
    result = run.episode(resumed(), when=2)
    assert result.runtime_status is Status.Running
    assert [a.task_id for a in result.actions] == [1]


def test_held_events_are_applied_in_arrival_order_on_resume() -> None:
    def events(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        first = yield context.wait_for_external_event("e")
        second = yield context.wait_for_external_event("e")
        return [first, second]

    run = Run(events)
    run.start()
    run.episode(suspended(), raised("e", 1), when=1)
    run.episode(raised("e", 2), when=2)
    assert output(run.episode(resumed(), when=3)) == [1, 2]


def test_code_after_resume_sees_the_time_of_the_resume_episode() -> None:
    def clock(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("a")
        return context.current_utc_datetime.isoformat()

    run = Run(clock)
    run.start()
    run.episode(suspended(), completed(0), when=1)
    assert output(run.episode(resumed(), when=50)) == at(50).isoformat()


def test_duplicate_completion_while_suspended_is_not_recorded() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(suspended(), completed(0, 1), completed(0, 99), when=1)
    assert event_types(result.new_events).count("TaskCompleted") == 1
    run.episode(resumed(), when=2)
    assert output(run.episode(completed(1, 2), when=3)) == [1, 2]


def test_fired_cancelled_timer_while_suspended_is_not_recorded() -> None:
    def cancel(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        timer = context.create_timer(at(10))
        timer.cancel()
        yield context.call_activity("a")

    run = Run(cancel)
    run.start()
    result = run.episode(suspended(), fired(0, at(10)), when=10)
    assert "TimerFired" not in event_types(result.new_events)


def test_termination_of_a_suspended_instance() -> None:
    run = Run(pair)
    run.start()
    run.episode(suspended(), when=1)
    result = run.episode(terminated(), when=2)
    assert result.runtime_status is Status.Terminated


def test_resume_without_suspension_changes_nothing() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(resumed(), completed(0, 1), when=1)
    assert [a.task_id for a in result.actions] == [1]


def test_duplicate_execution_started_is_dropped_and_not_recorded() -> None:
    run = Run(pair)
    run.start()
    result = run.episode(started(), completed(0, 1), when=1)
    assert event_types(result.new_events) == [
        "OrchestratorStarted",
        "TaskCompleted",
        "TaskScheduled",
        "OrchestratorCompleted",
    ]
    assert [a.task_id for a in result.actions] == [1]
