"""Durable timers: absolute and relative fire times, firing, cancellation."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Generator
from typing import Any

from durably.actions import CreateTimer
from durably.engine.context import OrchestrationContext
from durably.history import OrchestrationRuntimeStatus, TimerCreated

from .helpers import Run, at, completed, event_types, fired, output

Status = OrchestrationRuntimeStatus


def sleep_until(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.create_timer(at(3600))
    return "woke"


def test_timer_at_a_datetime_is_created_with_that_fire_time() -> None:
    result = Run(sleep_until).start()
    assert result.actions == (CreateTimer(task_id=0, fire_at=at(3600)),)
    created = result.new_events[2]
    assert isinstance(created, TimerCreated) and created.fire_at == at(3600)


def test_timer_with_a_timedelta_fires_relative_to_orchestration_time() -> None:
    def nap(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.create_timer(_dt.timedelta(minutes=5))

    result = Run(nap).start(when=100)
    assert result.actions == (CreateTimer(task_id=0, fire_at=at(400)),)


def test_naive_datetime_is_taken_as_utc() -> None:
    def naive(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.create_timer(_dt.datetime(2024, 1, 2))

    result = Run(naive).start()
    midnight = _dt.datetime(2024, 1, 2, tzinfo=_dt.UTC)
    assert result.actions == (CreateTimer(task_id=0, fire_at=midnight),)


def test_timer_fired_resumes_the_orchestrator() -> None:
    run = Run(sleep_until)
    run.start()
    result = run.episode(fired(0, at(3600)), when=3600)
    assert output(result) == "woke"


def test_timer_fired_for_another_id_is_ignored() -> None:
    run = Run(sleep_until)
    run.start()
    result = run.episode(fired(7, at(3600)), when=3600)
    assert result.runtime_status is Status.Running
    assert event_types(result.new_events) == ["OrchestratorStarted", "OrchestratorCompleted"]


def deadline(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    timer = context.create_timer(at(60))
    work = context.call_activity("work")
    winner = yield context.task_any([timer, work])
    if winner is work:
        timer.cancel()
        after = yield context.call_activity("next")
        return [work.result, after, timer.is_cancelled]
    return "timed out"


def test_cancelled_timer_that_fires_later_is_dropped_and_not_recorded() -> None:
    run = Run(deadline)
    run.start()
    run.episode(completed(1, "w"), when=1)
    result = run.episode(fired(0, at(60)), when=60)
    assert event_types(result.new_events) == ["OrchestratorStarted", "OrchestratorCompleted"]
    assert result.runtime_status is Status.Running


def test_orchestration_continues_normally_after_a_cancelled_timer() -> None:
    run = Run(deadline)
    run.start()
    run.episode(completed(1, "w"), when=1)
    run.episode(fired(0, at(60)), when=60)
    result = run.episode(completed(2, "n"), when=61)
    assert output(result) == ["w", "n", True]


def test_cancelling_a_fired_timer_changes_nothing() -> None:
    def late_cancel(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        timer = context.create_timer(at(10))
        yield timer
        timer.cancel()
        return [timer.is_completed, timer.is_cancelled]

    run = Run(late_cancel)
    run.start()
    assert output(run.episode(fired(0, at(10)), when=10)) == [True, False]


def test_timer_cancelled_in_the_episode_that_created_it_is_still_recorded() -> None:
    def cancel_at_once(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        timer = context.create_timer(at(10))
        timer.cancel()
        result = yield context.call_activity("a")
        return result

    result = Run(cancel_at_once).start()
    assert [type(a).__name__ for a in result.actions] == ["CreateTimer", "ScheduleTask"]


def test_a_timer_of_another_type_fails_with_a_type_error_naming_the_types() -> None:
    def seconds(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        try:
            yield context.create_timer(5)  # type: ignore[arg-type]
        except TypeError as exc:
            return str(exc)

    result = Run(seconds).start()
    assert output(result) == "create_timer takes a datetime or a timedelta, got int: 5"
