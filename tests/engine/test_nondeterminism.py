"""Replay against a history the orchestrator no longer matches raises a clear error."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from durably.actions import ScheduleTask
from durably.engine.context import OrchestrationContext
from durably.engine.replay import OrchestrationExecutor
from durably.errors import DurablyError, NonDeterministicOrchestrationError
from durably.history import HistoryEvent, OrchestrationRuntimeStatus

from .helpers import Run, at, completed, event_types, output

Status = OrchestrationRuntimeStatus


def original(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_activity("reserve")
    second = yield context.call_activity("charge", first)
    return second


def recorded_history() -> list[HistoryEvent]:
    """reserve completed, charge scheduled: the instance waits for charge."""
    run = Run(original)
    run.start()
    run.episode(completed(0, "r"), when=1)
    return run.history


def replay_with(orchestrator: Any, history: list[HistoryEvent]) -> str:
    executor = OrchestrationExecutor(orchestrator, instance_id="x")
    with pytest.raises(NonDeterministicOrchestrationError) as caught:
        executor.replay(history)
    return str(caught.value)


def position_of_charge(history: list[HistoryEvent]) -> int:
    return event_types(history).index("TaskScheduled", 3)


def test_unchanged_orchestrator_replays_cleanly() -> None:
    executor = OrchestrationExecutor(original, instance_id="x")
    executor.replay(recorded_history())
    assert output(executor.execute([completed(1, "paid")], at(2))) == "paid"


def test_changed_activity_name_names_position_expected_and_actual() -> None:
    def renamed(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        first = yield context.call_activity("reserve")
        yield context.call_activity("bill", first)

    history = recorded_history()
    message = replay_with(renamed, history)
    assert f"history position {position_of_charge(history)}" in message
    assert "TaskScheduled of activity 'charge' (task 1)" in message
    assert "asked for activity 'bill' (task 1)" in message


def test_activity_replaced_by_a_timer_is_caught() -> None:
    def timer_instead(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.create_timer(at(10))

    message = replay_with(timer_instead, recorded_history())
    assert "history position 2" in message
    assert "TaskScheduled of activity 'reserve' (task 0)" in message
    assert "asked for timer (task 0)" in message


def test_activity_replaced_by_a_sub_orchestration_is_caught() -> None:
    def sub_instead(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_sub_orchestrator("reserve")

    message = replay_with(sub_instead, recorded_history())
    assert "asked for sub-orchestration 'reserve' (task 0)" in message


def test_missing_action_is_caught() -> None:
    def waits_instead(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("reserve")
        yield context.wait_for_external_event("charge")

    history = recorded_history()
    message = replay_with(waits_instead, history)
    assert f"history position {position_of_charge(history)}" in message
    assert "TaskScheduled of activity 'charge' (task 1)" in message
    assert "did not schedule task 1" in message


def test_orchestrator_that_now_returns_early_is_caught() -> None:
    def returns_early(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("reserve")
        return "done early"

    history = recorded_history()
    message = replay_with(returns_early, history)
    assert f"history position {position_of_charge(history)}" in message
    assert "did not schedule task 1" in message


def test_orchestrator_that_now_fails_early_is_caught() -> None:
    def raises(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("reserve")
        raise RuntimeError("new validation")

    message = replay_with(raises, recorded_history())
    assert "did not schedule task 1" in message


def test_scheduling_in_a_different_order_is_caught() -> None:
    def parallel(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.task_all([context.call_activity("a"), context.call_activity("b")])

    def swapped(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.task_all([context.call_activity("b"), context.call_activity("a")])

    run = Run(parallel)
    run.start()
    message = replay_with(swapped, run.history)
    assert "TaskScheduled of activity 'a' (task 0)" in message
    assert "asked for activity 'b' (task 0)" in message


def test_new_actions_after_the_recorded_ones_are_not_nondeterministic() -> None:
    def extended(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        first = yield context.call_activity("reserve")
        charge = context.call_activity("charge", first)
        context.call_activity("audit")  # new: task 2, never recorded
        second = yield charge
        return second

    executor = OrchestrationExecutor(extended, instance_id="x")
    executor.replay(recorded_history())
    result = executor.execute([], at(2))
    assert result.actions == (ScheduleTask(task_id=2, name="audit"),)


def test_inputs_are_not_compared() -> None:
    def other_input(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("reserve", "different")
        yield context.call_activity("charge", "different")

    OrchestrationExecutor(other_input, instance_id="x").replay(recorded_history())


def test_nondeterminism_error_is_a_durably_error() -> None:
    assert issubclass(NonDeterministicOrchestrationError, DurablyError)


def test_failing_the_executor_after_nondeterminism_records_a_failed_completion() -> None:
    def renamed(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("other")

    executor = OrchestrationExecutor(renamed, instance_id="x")
    history = recorded_history()
    with pytest.raises(NonDeterministicOrchestrationError) as caught:
        executor.replay(history)
    executor.fail(caught.value)
    result = executor.execute([completed(1)], at(2))
    assert result.runtime_status is Status.Failed
    assert "NonDeterministicOrchestrationError: history position 2" in (result.output or "")
    assert result.actions == (result.completion,)
    assert event_types(result.new_events) == [
        "OrchestratorStarted",
        "OrchestratorCompleted",
        "ExecutionCompleted",
    ]
