"""Failed tasks, unhandled exceptions and orchestrators that break the rules."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from durably.actions import ScheduleTask
from durably.engine.context import OrchestrationContext
from durably.errors import TaskFailedError
from durably.history import ExecutionCompleted, OrchestrationRuntimeStatus

from .helpers import Run, completed, event_types, failed, output

Status = OrchestrationRuntimeStatus


def compensating(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        yield context.call_activity("charge")
    except TaskFailedError as error:
        yield context.call_activity("refund", error.message)
        return f"refunded after {error.error_type}"
    return "charged"


def test_task_failed_error_at_the_yield_can_be_caught() -> None:
    run = Run(compensating)
    run.start()
    result = run.episode(failed(0, "PaymentError", "card declined"), when=1)
    assert result.actions == (ScheduleTask(task_id=1, name="refund", input='"card declined"'),)
    assert output(run.episode(completed(1), when=2)) == "refunded after PaymentError"


def test_task_failed_error_carries_type_message_and_traceback_text() -> None:
    def inspect_error(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        try:
            yield context.call_activity("x")
        except TaskFailedError as error:
            return [error.error_type, error.message, error.details, str(error)]

    run = Run(inspect_error)
    run.start()
    result = run.episode(failed(0, "KeyError", "'k'"), when=1)
    assert output(result) == ["KeyError", "'k'", "Traceback: 'k'", "KeyError: 'k'"]


def test_failed_task_reports_its_exception() -> None:
    def look(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        task = context.call_activity("x")
        yield context.task_any([task])
        assert isinstance(task.exception, TaskFailedError)
        return [task.is_completed, task.is_faulted, task.result]

    run = Run(look)
    run.start()
    assert output(run.episode(failed(0), when=1)) == [True, True, None]


def test_uncaught_task_failure_fails_the_instance() -> None:
    def careless(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("x")

    run = Run(careless)
    run.start()
    result = run.episode(failed(0, "OSError", "disk full"), when=1)
    assert result.runtime_status is Status.Failed
    assert "TaskFailedError: OSError: disk full" in (result.output or "")


def test_unhandled_exception_fails_with_type_and_message_in_the_output() -> None:
    def broken(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("x")
        raise RuntimeError("something broke")

    run = Run(broken)
    run.start()
    result = run.episode(completed(0), when=1)
    assert result.runtime_status is Status.Failed
    assert isinstance(result.output, str)
    assert "RuntimeError: something broke" in result.output
    last = result.new_events[-1]
    assert isinstance(last, ExecutionCompleted) and last.failure_details is not None
    assert (last.failure_details.error_type, last.failure_details.message) == (
        "RuntimeError",
        "something broke",
    )
    assert "broken" in (last.failure_details.details or "")  # the traceback names the function


def test_a_failing_episode_schedules_nothing_it_asked_for() -> None:
    def half_done(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        context.call_activity("never")
        raise ValueError("bad input")
        yield

    result = Run(half_done).start()
    assert result.actions == (result.completion,)
    assert "TaskScheduled" not in event_types(result.new_events)


def test_exception_before_the_first_yield_fails_the_instance() -> None:
    def eager(context: OrchestrationContext) -> Any:
        raise LookupError("no such order")

    result = Run(eager).start()
    assert result.runtime_status is Status.Failed
    assert "LookupError: no such order" in (result.output or "")


def test_yielding_a_non_task_fails_clearly() -> None:
    def wrong(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield 42

    result = Run(wrong).start()
    assert result.runtime_status is Status.Failed
    assert "TypeError" in (result.output or "")
    assert "must yield tasks" in (result.output or "")
    assert "int: 42" in (result.output or "")


def test_non_generator_orchestrator_completes_with_its_return_value() -> None:
    def plain(context: OrchestrationContext) -> Any:
        return {"sum": sum(context.get_input())}

    result = Run(plain).start([1, 2, 3])
    assert result.runtime_status is Status.Completed
    assert output(result) == {"sum": 6}


def test_async_orchestrator_is_refused() -> None:
    async def coroutine(context: OrchestrationContext) -> None:
        return None

    result = Run(coroutine).start()
    assert result.runtime_status is Status.Failed
    assert "must be a generator, not async def" in (result.output or "")


def test_output_that_is_not_json_fails_the_instance() -> None:
    def opaque(context: OrchestrationContext) -> Any:
        return object()

    result = Run(opaque).start()
    assert result.runtime_status is Status.Failed
    assert "not JSON-serialisable" in (result.output or "")


def test_non_json_activity_input_raises_type_error_at_the_call() -> None:
    def bad_input(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        try:
            context.call_activity("x", object())
        except TypeError as error:
            return str(error)
        yield

    result = Run(bad_input).start()
    assert "activity input is not JSON-serialisable" in output(result)
