"""wait_for_external_event: buffering, names, several waiters, timeouts."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Generator
from typing import Any

from durably.actions import CreateTimer
from durably.engine.context import OrchestrationContext
from durably.history import OrchestrationRuntimeStatus

from .helpers import Run, at, completed, event_types, fired, output, raised, started

Status = OrchestrationRuntimeStatus


def approval(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    answer = yield context.wait_for_external_event("Approval")
    return answer


def test_waiting_for_an_event_schedules_nothing() -> None:
    result = Run(approval).start()
    assert result.actions == ()
    assert result.runtime_status is Status.Running


def test_raised_event_delivers_its_data() -> None:
    run = Run(approval)
    run.start()
    result = run.episode(raised("Approval", {"by": "ana"}), when=5)
    assert output(result) == {"by": "ana"}
    assert "EventRaised" in event_types(result.new_events)


def test_event_names_are_compared_case_insensitively() -> None:
    run = Run(approval)
    run.start()
    assert output(run.episode(raised("APPROVAL", 1), when=1)) == 1


def test_event_with_another_name_does_not_complete_the_wait() -> None:
    run = Run(approval)
    run.start()
    result = run.episode(raised("Rejection", 1), when=1)
    assert result.runtime_status is Status.Running


def two_steps(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    yield context.call_activity("prepare")
    first = yield context.wait_for_external_event("item")
    second = yield context.wait_for_external_event("item")
    return [first, second]


def test_events_raised_before_anyone_waits_are_buffered_in_order() -> None:
    run = Run(two_steps)
    run.start()
    run.episode(raised("item", "a", when=1), when=1)
    run.episode(raised("ITEM", "b", when=2), when=2)
    result = run.episode(completed(0), when=3)
    assert output(result) == ["a", "b"]


def test_buffered_event_is_kept_when_another_name_arrives_in_between() -> None:
    run = Run(two_steps)
    run.start()
    result = run.episode(raised("other", 0), raised("item", "a"), raised("item", "b"), when=1)
    assert result.runtime_status is Status.Running
    assert output(run.episode(completed(0), when=2)) == ["a", "b"]


def test_several_waiters_on_one_name_are_served_first_in_first_out() -> None:
    def both(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        first = context.wait_for_external_event("vote")
        second = context.wait_for_external_event("Vote")
        results = yield context.task_all([first, second])
        return results

    run = Run(both)
    run.start()
    run.episode(raised("vote", "yes"), when=1)
    assert output(run.episode(raised("vote", "no"), when=2)) == ["yes", "no"]


def with_timeout(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        answer = yield context.wait_for_external_event("answer", timeout=60)
    except TimeoutError as error:
        late = yield context.wait_for_external_event("answer")
        return ["timeout", str(error), late]
    return ["answer", answer]


def test_timeout_creates_a_timer_relative_to_orchestration_time() -> None:
    result = Run(with_timeout).start(when=10)
    assert result.actions == (CreateTimer(task_id=0, fire_at=at(70)),)


def test_timeout_accepts_a_timedelta() -> None:
    def delta(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.wait_for_external_event("x", timeout=_dt.timedelta(hours=1))

    assert Run(delta).start().actions == (CreateTimer(task_id=0, fire_at=at(3600)),)


def test_timeout_raises_timeout_error_at_the_yield() -> None:
    run = Run(with_timeout)
    run.start()
    result = run.episode(fired(0, at(60)), when=60)
    assert result.runtime_status is Status.Running
    result = run.episode(raised("answer", "late"), when=70)
    kind, message, late = output(result)
    assert (kind, late) == ("timeout", "late")
    assert "answer" in message


def test_event_after_a_timeout_is_buffered_not_lost() -> None:
    def sequential(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        with contextlib.suppress(TimeoutError):
            yield context.wait_for_external_event("answer", timeout=60)
        yield context.call_activity("slow")
        late = yield context.wait_for_external_event("answer")
        return late

    run = Run(sequential)
    run.start()
    run.episode(fired(0, at(60)), when=60)
    run.episode(raised("answer", "late"), when=61)
    assert output(run.episode(completed(1), when=62)) == "late"


def test_event_in_time_wins_and_its_timer_is_cancelled() -> None:
    run = Run(with_timeout)
    run.start()
    result = run.episode(raised("answer", 42), when=5)
    assert output(result) == ["answer", 42]


def test_timer_of_an_answered_wait_is_dropped_when_it_fires() -> None:
    def then_wait(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        answer = yield context.wait_for_external_event("answer", timeout=60)
        more = yield context.call_activity("more")
        return [answer, more]

    run = Run(then_wait)
    run.start()
    run.episode(raised("answer", 1), when=5)
    result = run.episode(fired(0, at(60)), when=60)
    assert event_types(result.new_events) == ["OrchestratorStarted", "OrchestratorCompleted"]
    assert output(run.episode(completed(1, 2), when=61)) == [1, 2]


def test_buffered_event_satisfies_a_wait_with_timeout_without_a_timer() -> None:
    def buffered(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("first")
        answer = yield context.wait_for_external_event("answer", timeout=60)
        return answer

    run = Run(buffered)
    run.start()
    run.episode(raised("answer", "early"), when=1)
    result = run.episode(completed(0), when=2)
    assert output(result) == "early"
    assert result.actions == (result.completion,)


def test_event_in_the_batch_before_execution_started_is_not_lost() -> None:
    run = Run(approval)
    result = run.episode(raised("approval", "early"), started(), when=0)
    assert output(result) == "early"
