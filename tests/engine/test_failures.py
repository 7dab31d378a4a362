"""Failed tasks, unhandled exceptions and orchestrators that break the rules."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

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


@pytest.mark.generator_only
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


def test_an_async_orchestrator_that_awaits_nothing_completes() -> None:
    async def coroutine(context: OrchestrationContext) -> Any:
        return {"input": context.get_input()}

    result = Run(coroutine).start(3)
    assert result.runtime_status is Status.Completed
    assert output(result) == {"input": 3}


@pytest.mark.parametrize(
    ("awaited", "named"),
    [
        (lambda: asyncio.sleep(1), "asyncio.tasks.sleep"),
        (lambda: asyncio.sleep(0), "asyncio.tasks.__sleep0"),
        (lambda: asyncio.Event().wait(), "asyncio.locks.Event.wait"),
        (lambda: _YieldsANumber(), "_YieldsANumber.__await__ (handing the engine int 7)"),
    ],
)
def test_awaiting_what_is_not_a_task_fails_naming_it(awaited: Any, named: str) -> None:
    async def wanders(context: OrchestrationContext) -> Any:
        first = await context.call_activity("step", 1)
        await awaited()
        return first

    run = Run(wanders)
    run.start()
    result = run.episode(completed(0, 2), when=1)
    assert result.runtime_status is Status.Failed
    text = result.output or ""
    assert text.startswith('"NonDeterministicOrchestrationError: an async orchestrator awaited')
    assert named in text and "not a durably task" in text


class _YieldsANumber:
    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield 7)


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


def test_a_stack_trace_starts_at_the_user_s_code() -> None:
    import durably
    from durably.testing import Harness

    app = durably.App()

    @app.activity
    def breaks(x: int) -> int:
        raise ValueError(f"bad {x}")

    @app.orchestrator
    def calls_it(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        return (yield context.call_activity(breaks, 1))

    with Harness(app) as harness:
        client = harness.client()
        instance_id = client.start_new(calls_it)
        status = client.wait_for_completion(instance_id)
        (task_failed,) = [
            e for e in client.get_history(instance_id) if e.event_type == "TaskFailed"
        ]
    trace = task_failed.to_dict()["FailureDetails"]["StackTrace"]
    # The user's frame comes first: durably's worker and dispatch frames are left out.
    assert trace.splitlines()[1].endswith(", in breaks"), trace
    assert "durably/worker" not in trace and "durably/engine" not in trace
    assert "durably/engine" not in str(status.output)
    assert ", in calls_it" in str(status.output)


def test_an_error_durably_raises_itself_has_no_stack_trace() -> None:
    import durably
    from durably.backends.memory import MemoryBackend

    store = MemoryBackend()
    instance_id = durably.Client(store).start_new("nope")  # a client without the app
    with durably.Worker(durably.App(), store=store, poll_interval=0.02) as worker:
        status = worker.client().wait_for_completion(instance_id, timeout=30)
    assert (
        status.output
        == "ValueError: no orchestrator named 'nope'; known orchestrators: none registered"
    )
