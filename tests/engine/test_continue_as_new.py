"""continue_as_new: the new input, and raised events nobody consumed are carried over."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from durably.engine.context import OrchestrationContext
from durably.history import ContinueAsNew, OrchestrationRuntimeStatus

from .helpers import Run, completed, event_types, output, raised, resumed, suspended

Status = OrchestrationRuntimeStatus


def counter(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    count = context.get_input() or 0
    yield context.call_activity("tick", count)
    context.continue_as_new(count + 1)


def test_continue_as_new_ends_the_execution_with_the_new_input() -> None:
    run = Run(counter)
    run.start(3)
    result = run.episode(completed(0), when=1)
    assert result.runtime_status is Status.ContinuedAsNew
    assert result.output == "4"
    assert result.completion is not None and result.completion.result == "4"
    assert event_types(result.new_events)[-1] == "ContinueAsNew"
    last = result.new_events[-1]
    assert isinstance(last, ContinueAsNew) and last.input == "4"


def test_continue_as_new_schedules_nothing_else() -> None:
    run = Run(counter)
    run.start(0)
    result = run.episode(completed(0), when=1)
    assert result.actions == (result.completion,)


def test_unconsumed_events_are_carried_over() -> None:
    run = Run(counter)
    run.start(0)
    run.episode(raised("Stop", "now"), when=1)
    result = run.episode(completed(0), raised("more", 1), when=2)
    assert result.completion is not None
    assert result.completion.carryover_events == (("Stop", '"now"'), ("more", "1"))


def test_consumed_events_are_not_carried_over() -> None:
    def take_one(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.wait_for_external_event("go")
        context.continue_as_new(None)

    run = Run(take_one)
    run.start()
    result = run.episode(raised("go", 1), raised("go", 2), when=1)
    assert result.completion is not None
    assert result.completion.carryover_events == (("go", "2"),)


def test_event_in_the_same_batch_after_continue_as_new_is_carried_over() -> None:
    run = Run(counter)
    run.start(0)
    result = run.episode(completed(0), raised("late", "x"), when=1)
    assert result.completion is not None
    assert result.completion.carryover_events == (("late", '"x"'),)
    assert "EventRaised" in event_types(result.new_events)


def test_event_held_by_suspension_after_continue_as_new_is_carried_over() -> None:
    run = Run(counter)
    run.start(0)
    run.episode(suspended(), completed(0), raised("held", 1), when=1)
    result = run.episode(resumed(), when=2)
    assert result.runtime_status is Status.ContinuedAsNew
    assert result.completion is not None
    assert result.completion.carryover_events == (("held", "1"),)


def test_continue_as_new_keeps_no_output_of_the_old_execution() -> None:
    def returns_too(context: OrchestrationContext) -> Any:
        context.continue_as_new("next")
        return "ignored"

    result = Run(returns_too).start()
    assert output(result) == "next"
