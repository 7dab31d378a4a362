"""Rewind planning (pure): cut at the first failure, keep what succeeded, replay cleanly."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Generator, Sequence
from typing import Any

from durably.actions import ScheduleTask
from durably.engine.context import OrchestrationContext
from durably.engine.replay import OrchestrationExecutor
from durably.engine.rewind import (
    is_rewind_request,
    open_sub_orchestrations,
    plan_rewind,
    rewind_request,
)
from durably.errors import TaskFailedError
from durably.history import (
    ExecutionStarted,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    TaskCompleted,
    TaskFailed,
)

Status = OrchestrationRuntimeStatus
T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)
REQUEST = rewind_request('"fixed"', T0 + _dt.timedelta(hours=1))


def _at(seconds: int) -> _dt.datetime:
    return T0 + _dt.timedelta(seconds=seconds)


def _ok(task_id: int, value: Any, when: int) -> TaskCompleted:
    return TaskCompleted(timestamp=_at(when), task_scheduled_id=task_id, result=json.dumps(value))


def _failed(task_id: int, when: int) -> TaskFailed:
    failure = FailureDetails(error_type="RuntimeError", message=f"task {task_id} failed")
    return TaskFailed(timestamp=_at(when), task_scheduled_id=task_id, failure_details=failure)


def fan_out_then_compensate(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        results = yield context.task_all([context.call_activity("work", n) for n in range(3)])
    except TaskFailedError:
        yield context.call_activity("compensate")
        raise
    return results


def _history(orchestrator: Any, episodes: Sequence[Sequence[HistoryEvent]]) -> list[HistoryEvent]:
    """Run the episodes on an executor; the history they record."""
    executor = OrchestrationExecutor(orchestrator, instance_id="x")
    history: list[HistoryEvent] = []
    start = ExecutionStarted(timestamp=T0, name="orch", instance_id="x")
    for number, events in enumerate([[start], *episodes]):
        history += executor.execute(list(events), _at(number)).new_events
    return history


def _failed_fan_out() -> list[HistoryEvent]:
    # work 0 succeeds, work 1 fails (the compensation runs and fails the instance), and
    # work 2's result arrives after the failure, so the engine does not record it.
    return _history(
        fan_out_then_compensate,
        [[_ok(0, "w0", 1)], [_failed(1, 2)], [_ok(3, "compensated", 3), _ok(2, "w2", 3)]],
    )


def test_the_failed_history_is_what_the_scenario_says() -> None:
    types = [e.event_type for e in _failed_fan_out()]
    assert types.count("TaskScheduled") == 4 and types.count("TaskFailed") == 1
    assert types[-1] == "ExecutionCompleted"


def test_the_plan_keeps_what_succeeded_and_reruns_the_rest() -> None:
    plan = plan_rewind(_failed_fan_out(), REQUEST)
    assert [t.event_id for t in plan.activities] == [1, 2]  # the failure, and the lost result
    assert plan.timers == () and plan.sub_orchestrations == ()
    kept = [e for e in plan.history if not isinstance(e, GenericEvent)]
    assert [e.event_type for e in kept].count("TaskScheduled") == 3  # not the compensation
    assert any(isinstance(e, TaskCompleted) and e.task_scheduled_id == 0 for e in kept)
    assert not any(isinstance(e, TaskFailed) for e in plan.history)
    traces = [json.loads(e.data or "") for e in plan.history if isinstance(e, GenericEvent)]
    rewound = [t["event"]["EventType"] for t in traces if t["kind"] == "durably.rewound"]
    assert rewound == ["TaskFailed", "TaskScheduled", "TaskCompleted", "ExecutionCompleted"]
    assert plan.history[-1] is REQUEST


def test_the_rewritten_history_replays_and_finishes_with_the_reruns() -> None:
    plan = plan_rewind(_failed_fan_out(), REQUEST)
    executor = OrchestrationExecutor(fan_out_then_compensate, instance_id="x")
    executor.replay(plan.history)
    waiting = executor.execute([], _at(10))
    assert waiting.runtime_status is Status.Running and waiting.actions == ()
    done = executor.execute([_ok(1, "w1", 11), _ok(2, "w2", 11)], _at(11))
    assert done.runtime_status is Status.Completed
    assert json.loads(done.output or "") == ["w0", "w1", "w2"]


def test_without_a_failed_task_the_cut_is_the_failing_completion() -> None:
    def buggy(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("work")
        raise ValueError("bug")

    history = _history(buggy, [[_ok(0, "done", 1)]])
    plan = plan_rewind(history, REQUEST)
    assert plan.activities == ()
    assert [e.event_type for e in plan.history[:-2]] == [e.event_type for e in history[:-1]]


def test_new_actions_after_replay_are_scheduled_again() -> None:
    def chain(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        first = yield context.call_activity("a")
        return [first, (yield context.call_activity("b"))]

    history = _history(chain, [[_ok(0, "A", 1)], [_failed(1, 2)]])
    plan = plan_rewind(history, REQUEST)
    assert [t.name for t in plan.activities] == ["b"]
    executor = OrchestrationExecutor(chain, instance_id="x")
    executor.replay(plan.history)
    assert executor.execute([], _at(5)).actions == ()  # b is still scheduled: no new action
    result = executor.execute([_ok(1, "B", 6)], _at(6))
    assert json.loads(result.output or "") == ["A", "B"]
    assert not any(isinstance(a, ScheduleTask) for a in result.actions)


def test_open_sub_orchestrations_and_rewind_requests() -> None:
    history: list[HistoryEvent] = [
        SubOrchestrationInstanceCreated(event_id=0, timestamp=T0, name="c", instance_id="c0"),
        SubOrchestrationInstanceCreated(event_id=1, timestamp=T0, name="c", instance_id="c1"),
        SubOrchestrationInstanceCompleted(timestamp=T0, task_scheduled_id=0, result=None),
    ]
    assert open_sub_orchestrations(history) == ["c1"]
    assert is_rewind_request(REQUEST)
    assert not is_rewind_request(GenericEvent(timestamp=T0, data='{"kind":"other"}'))
    assert not is_rewind_request(GenericEvent(timestamp=T0, data="not json"))
    assert json.loads(REQUEST.data or "") == {"kind": "durably.rewind", "reason": "fixed"}
