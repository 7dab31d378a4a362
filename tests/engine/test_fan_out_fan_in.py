"""task_all and task_any: fan-out/fan-in, fail-fast, and the winning task."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from durably.actions import ScheduleTask
from durably.engine.context import OrchestrationContext
from durably.engine.tasks import Task
from durably.errors import TaskFailedError
from durably.history import OrchestrationRuntimeStatus

from .helpers import Run, at, completed, failed, fired, output

Status = OrchestrationRuntimeStatus


def fan_out(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    items = context.get_input()
    tasks = [context.call_activity("double", n) for n in items]
    results = yield context.task_all(tasks)
    return results


def test_all_activities_are_scheduled_in_one_episode() -> None:
    result = Run(fan_out).start([1, 2, 3])
    assert result.actions == tuple(
        ScheduleTask(task_id=i, name="double", input=str(n)) for i, n in enumerate([1, 2, 3])
    )


def test_results_come_back_in_call_order_whatever_the_completion_order() -> None:
    run = Run(fan_out)
    run.start([1, 2, 3])
    assert run.episode(completed(2, 6), when=1).runtime_status is Status.Running
    assert run.episode(completed(0, 2), when=2).runtime_status is Status.Running
    result = run.episode(completed(1, 4), when=3)
    assert output(result) == [2, 4, 6]


def test_completions_in_one_batch_finish_in_one_episode() -> None:
    run = Run(fan_out)
    run.start([1, 2])
    result = run.episode(completed(1, 4), completed(0, 2), when=1)
    assert output(result) == [2, 4]


def test_task_all_fails_on_the_first_failure_without_waiting_for_the_rest() -> None:
    def caught(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        tasks = [context.call_activity("a"), context.call_activity("b")]
        try:
            yield context.task_all(tasks)
        except TaskFailedError as error:
            return [error.error_type, error.message, tasks[0].is_completed]
        return "no error"

    run = Run(caught)
    run.start()
    result = run.episode(failed(1, "KeyError", "missing"), when=1)
    assert output(result) == ["KeyError", "missing", False]


def test_task_all_of_nothing_completes_at_once_with_an_empty_list() -> None:
    def nothing(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        results = yield context.task_all([])
        return results

    result = Run(nothing).start()
    assert result.runtime_status is Status.Completed
    assert output(result) == []


def race(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    work = context.call_activity("work")
    timer = context.create_timer(at(60))
    winner = yield context.task_any([work, timer])
    if winner is work:
        timer.cancel()
        return ["work", work.result]
    return ["timeout", timer.is_completed]


def test_task_any_returns_the_winning_task_object() -> None:
    run = Run(race)
    run.start()
    result = run.episode(completed(0, 42), when=1)
    assert output(result) == ["work", 42]


def test_task_any_can_be_won_by_the_timer() -> None:
    run = Run(race)
    run.start()
    result = run.episode(fired(1, at(60)), when=60)
    assert output(result) == ["timeout", True]


def test_task_any_winner_is_the_first_event_of_the_batch() -> None:
    run = Run(race)
    run.start()
    result = run.episode(fired(1, at(60)), completed(0, 42), when=60)
    assert output(result) == ["timeout", True]


def test_task_any_is_won_by_a_failed_task_without_raising() -> None:
    def first(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        tasks = [context.call_activity("a"), context.call_activity("b")]
        winner: Task = yield context.task_any(tasks)
        return [tasks.index(winner), winner.is_faulted, str(winner.exception)]

    run = Run(first)
    run.start()
    result = run.episode(failed(1, "OSError", "disk"), when=1)
    assert output(result) == [1, True, "OSError: disk"]


def test_task_any_of_nothing_is_refused() -> None:
    def nothing(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.task_any([])

    result = Run(nothing).start()
    assert result.runtime_status is Status.Failed
    assert "task_any needs at least one task" in (result.output or "")


def test_composites_nest() -> None:
    def nested(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        pairs = [
            context.task_all([context.call_activity("a"), context.call_activity("b")]),
            context.task_all([context.call_activity("c")]),
        ]
        results = yield context.task_all(pairs)
        return results

    run = Run(nested)
    run.start()
    result = run.episode(completed(2, "c"), completed(1, "b"), completed(0, "a"), when=1)
    assert output(result) == [["a", "b"], ["c"]]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_each_completion_in_its_own_episode_gives_the_same_output(
    order: tuple[int, int, int],
) -> None:
    run = Run(fan_out)
    run.start([1, 2, 3])
    result = None
    for step, task_id in enumerate(order, start=1):
        result = run.episode(completed(task_id, (task_id + 1) * 2), when=step)
    assert result is not None and output(result) == [2, 4, 6]
