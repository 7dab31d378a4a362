"""call_activity_with_retry and call_sub_orchestrator_with_retry; RetryOptions' arithmetic."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Generator
from typing import Any

import pytest

from durably.actions import CreateTimer, ScheduleTask, StartSubOrchestration
from durably.engine.context import OrchestrationContext
from durably.engine.retry import RetryOptions
from durably.errors import TaskFailedError
from durably.history import OrchestrationRuntimeStatus

from .helpers import Run, at, completed, failed, fired, output, sub_completed, sub_failed

Status = OrchestrationRuntimeStatus

BACKOFF = RetryOptions(
    first_retry_interval_in_milliseconds=1000,
    max_number_of_attempts=5,
    backoff_coefficient=2.0,
    max_retry_interval_in_milliseconds=5000,
)


def charge(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        receipt = yield context.call_activity_with_retry("charge", BACKOFF, {"order": 42})
    except TaskFailedError as error:
        return {"type": error.error_type, "message": error.message, "details": error.details}
    return receipt


def test_first_attempt_is_an_ordinary_activity() -> None:
    result = Run(charge).start()
    assert result.actions == (ScheduleTask(task_id=0, name="charge", input='{"order":42}'),)


def test_success_on_the_first_attempt_needs_no_timer() -> None:
    run = Run(charge)
    run.start()
    assert output(run.episode(completed(0, "ok"), when=1)) == "ok"


def test_failure_schedules_a_timer_from_the_time_of_the_failure_episode() -> None:
    run = Run(charge)
    run.start()
    result = run.episode(failed(0), when=30)
    assert result.actions == (CreateTimer(task_id=1, fire_at=at(31)),)


def test_retry_starts_a_new_attempt_with_the_same_input_when_the_timer_fires() -> None:
    run = Run(charge)
    run.start()
    run.episode(failed(0), when=30)
    result = run.episode(fired(1, at(31)), when=31)
    assert result.actions == (ScheduleTask(task_id=2, name="charge", input='{"order":42}'),)


def test_delays_grow_by_the_coefficient_and_are_capped_at_the_max_interval() -> None:
    run = Run(charge)
    run.start()
    now, delays = 0.0, []
    for attempt in range(4):
        result = run.episode(failed(attempt * 2), when=now)
        (timer,) = result.actions
        assert isinstance(timer, CreateTimer)
        delays.append((timer.fire_at - at(now)).total_seconds())
        now = (timer.fire_at - at(0)).total_seconds() + 0.5  # fired a little late
        run.episode(fired(timer.task_id, timer.fire_at), when=now)
    assert delays == [1, 2, 4, 5]


def test_gives_up_after_max_attempts_with_the_last_original_error() -> None:
    run = Run(charge)
    run.start()
    now = 0
    for attempt in range(4):
        run.episode(failed(attempt * 2, "IOError", f"try {attempt}"), when=now)
        now += 10
        run.episode(fired(attempt * 2 + 1, at(now - 10) + _dt.timedelta(seconds=5)), when=now)
    result = run.episode(failed(8, "IOError", "try 4"), when=now + 1)
    assert output(result) == {"type": "IOError", "message": "try 4", "details": "Traceback: try 4"}


def test_success_after_failures_returns_the_result() -> None:
    run = Run(charge)
    run.start()
    run.episode(failed(0), when=1)
    run.episode(fired(1, at(2)), when=2)
    assert output(run.episode(completed(2, "paid"), when=3)) == "paid"


def test_retry_timeout_stops_retrying_once_the_next_wait_would_pass_it() -> None:
    options = RetryOptions(
        first_retry_interval_in_milliseconds=10_000,
        max_number_of_attempts=10,
        retry_timeout_in_milliseconds=25_000,
    )

    def bounded(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        result = yield context.call_activity_with_retry("flaky", options)
        return result

    run = Run(bounded)
    run.start()
    run.episode(failed(0), when=1)  # retry at 11 (deadline 25)
    run.episode(fired(1, at(11)), when=11)
    result = run.episode(failed(2, "ValueError", "again"), when=12)  # 22 < 25: retry
    assert result.actions == (CreateTimer(task_id=3, fire_at=at(22)),)
    run.episode(fired(3, at(22)), when=22)
    result = run.episode(failed(4, "ValueError", "last"), when=23)  # 33 > 25: give up
    assert result.runtime_status is Status.Failed
    assert "ValueError: last" in (result.output or "")


def test_unhandled_retry_failure_fails_the_instance_with_the_original_error() -> None:
    once = RetryOptions(first_retry_interval_in_milliseconds=1, max_number_of_attempts=1)

    def plain(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity_with_retry("x", once)

    run = Run(plain)
    run.start()
    result = run.episode(failed(0, "KeyError", "k"), when=1)
    assert result.runtime_status is Status.Failed
    assert result.completion is not None and result.completion.failure_details is not None
    assert result.completion.failure_details.error_type == "TaskFailedError"
    assert "KeyError: k" in (result.output or "")


def child_with_retry(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    options = RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=2)
    result = yield context.call_sub_orchestrator_with_retry("child", options, "in")
    return result


def test_sub_orchestrator_retry_starts_a_new_child_after_the_delay() -> None:
    run = Run(child_with_retry, instance_id="p")
    first = run.start()
    assert first.actions == (
        StartSubOrchestration(task_id=0, name="child", instance_id="p:0000", input='"in"'),
    )
    assert run.episode(sub_failed(0), when=10).actions == (CreateTimer(task_id=1, fire_at=at(12)),)
    retry = run.episode(fired(1, at(12)), when=12)
    assert retry.actions == (
        StartSubOrchestration(task_id=2, name="child", instance_id="p:0002", input='"in"'),
    )
    assert output(run.episode(sub_completed(2, "done"), when=13)) == "done"


def test_sub_orchestrator_retry_keeps_an_explicit_instance_id() -> None:
    options = RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)

    def named(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_sub_orchestrator_with_retry("child", options, instance_id="kid")

    run = Run(named)
    run.start()
    run.episode(sub_failed(0), when=1)
    retry = run.episode(fired(1, at(2)), when=2)
    assert retry.actions == (StartSubOrchestration(task_id=2, name="child", instance_id="kid"),)


def test_sub_orchestrator_retry_gives_up_with_the_child_failure() -> None:
    run = Run(child_with_retry)
    run.start()
    run.episode(sub_failed(0), when=1)
    run.episode(fired(1, at(3)), when=3)
    result = run.episode(sub_failed(2, "RuntimeError", "child broke"), when=4)
    assert result.runtime_status is Status.Failed
    assert "RuntimeError: child broke" in (result.output or "")


@pytest.mark.parametrize(
    ("attempt", "expected_ms"), [(1, 1000), (2, 2000), (3, 4000), (4, 5000), (5, None)]
)
def test_next_delay_is_first_times_coefficient_power_capped(
    attempt: int, expected_ms: int | None
) -> None:
    delay = BACKOFF.next_delay(attempt, at(0), at(0))
    expected = None if expected_ms is None else _dt.timedelta(milliseconds=expected_ms)
    assert delay == expected


def test_next_delay_respects_the_retry_timeout() -> None:
    options = RetryOptions(1000, 5, retry_timeout_in_milliseconds=10_000)
    assert options.next_delay(1, at(0), at(8)) == _dt.timedelta(seconds=1)
    assert options.next_delay(1, at(0), at(9.5)) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_retry_interval_in_milliseconds": 0}, "first_retry_interval"),
        ({"max_number_of_attempts": 0}, "max_number_of_attempts"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient"),
    ],
)
def test_invalid_retry_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "first_retry_interval_in_milliseconds": 1000,
        "max_number_of_attempts": 3,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        RetryOptions(**values)
