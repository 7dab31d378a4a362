"""Function chaining: one activity after another, results fed back by replay."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from durably.actions import CompleteOrchestration, ScheduleTask
from durably.engine.context import OrchestrationContext
from durably.history import OrchestrationRuntimeStatus, TaskScheduled

from .helpers import Run, at, completed, event_types, output

Status = OrchestrationRuntimeStatus


def say_hello(city: str) -> str:
    return f"Hello {city}!"


def hello_sequence(context: OrchestrationContext) -> Generator[Any, Any, list[str]]:
    first = yield context.call_activity("say_hello", "Tokyo")
    second = yield context.call_activity(say_hello, "Seattle")
    return [first, second]


def test_first_episode_schedules_the_first_activity_only() -> None:
    result = Run(hello_sequence).start()
    assert result.actions == (ScheduleTask(task_id=0, name="say_hello", input='"Tokyo"'),)
    assert result.runtime_status is Status.Running
    assert result.output is None and result.completion is None


def test_first_episode_records_started_scheduled_and_completed_events() -> None:
    result = Run(hello_sequence).start(when=5)
    assert event_types(result.new_events) == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "TaskScheduled",
        "OrchestratorCompleted",
    ]
    scheduled = result.new_events[2]
    assert isinstance(scheduled, TaskScheduled)
    assert (scheduled.event_id, scheduled.timestamp) == (0, at(5))


def test_activity_given_by_function_is_scheduled_under_its_name() -> None:
    run = Run(hello_sequence)
    run.start()
    result = run.episode(completed(0, "Hello Tokyo!"), when=1)
    assert result.actions == (ScheduleTask(task_id=1, name="say_hello", input='"Seattle"'),)


def test_results_flow_into_the_next_step_and_the_output() -> None:
    run = Run(hello_sequence)
    run.start()
    run.episode(completed(0, "Hello Tokyo!"), when=1)
    result = run.episode(completed(1, "Hello Seattle!"), when=2)
    assert result.runtime_status is Status.Completed
    assert output(result) == ["Hello Tokyo!", "Hello Seattle!"]
    assert isinstance(result.completion, CompleteOrchestration)
    assert result.actions == (result.completion,)
    assert event_types(result.new_events)[-2:] == ["OrchestratorCompleted", "ExecutionCompleted"]


def test_input_is_available_to_the_orchestrator() -> None:
    def echo(context: OrchestrationContext) -> Any:
        return {"got": context.get_input(), "id": context.instance_id, "name": context.name}

    result = Run(echo, instance_id="abc", name="echo").start({"n": 1})
    assert output(result) == {"got": {"n": 1}, "id": "abc", "name": "echo"}


def test_replay_reruns_nothing_and_waits_for_the_pending_task() -> None:
    run = Run(hello_sequence)
    run.start()
    run.episode(completed(0, "Hello Tokyo!"), when=1)
    executor = run.replayed()
    assert not executor.is_done
    assert executor.history_length == len(run.history)


def test_activity_registered_under_another_name_is_called_by_that_name() -> None:
    def charge(amount: int) -> str:
        return "ok"

    charge.durably_name = "payments.charge"  # what App.activity(name=...) sets

    def uses_function(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity(charge, 5)

    result = Run(uses_function).start()
    assert result.actions == (ScheduleTask(task_id=0, name="payments.charge", input="5"),)
