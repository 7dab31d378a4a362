"""Committed histories replay against today's orchestrators and engine.

The files under ``histories/`` were recorded once from the scenarios in ``golden.py``.
Every one must replay with its orchestrator to the outcome it recorded, and recording
its scenario again must give the same history: a change in what the engine records, or
an orchestrator change that breaks replay, shows up here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from durably.history import (
    HistoryEvent,
    OrchestrationRuntimeStatus,
    TaskCompleted,
    TaskScheduled,
    TimerCreated,
)
from durably.testing.replay import replay_history

from . import golden
from .helpers import at

Status = OrchestrationRuntimeStatus


def history(name: str) -> list[HistoryEvent]:
    return [HistoryEvent.from_dict(data) for data in golden.load(name)]


def replay(name: str, orchestrator: Any = None) -> Any:
    scenario = golden.SCENARIOS[name]
    return replay_history(orchestrator or scenario.orchestrator, scenario.path)


def output_of(name: str) -> Any:
    report = replay(name)
    return None if report.output is None else json.loads(report.output)


@pytest.mark.parametrize("name", sorted(golden.SCENARIOS))
def test_golden_history_replays_to_its_recorded_outcome(name: str) -> None:
    report = replay(name)
    assert report.is_replay_safe, report
    assert report.matches_history, report
    assert report.events_replayed == len(golden.load(name))


@pytest.mark.parametrize("name", sorted(golden.SCENARIOS))
def test_recording_the_scenario_again_gives_the_committed_history(name: str) -> None:
    assert golden.record(golden.SCENARIOS[name]) == golden.load(name)


def test_golden_function_chaining() -> None:
    assert output_of("function_chaining") == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_golden_fan_out_fan_in_drops_the_duplicate() -> None:
    assert output_of("fan_out_fan_in") == {"files": 3, "total": 60}
    task_3 = [e for e in history("fan_out_fan_in") if getattr(e, "task_scheduled_id", 0) == 3]
    assert len(task_3) == 1


def test_golden_retry_waits_grow_by_the_backoff() -> None:
    assert output_of("retry_then_success") == "receipt-42"
    created = [e for e in history("retry_then_success") if isinstance(e, TimerCreated)]
    assert [e.fire_at for e in created] == [at(6), at(17)]  # failed at 1 +5s, at 7 +10s


def test_golden_approval_in_time_drops_the_cancelled_timeout() -> None:
    assert output_of("approval_in_time") == "yes by ana"
    assert "TimerFired" not in [e.event_type for e in history("approval_in_time")]


def test_golden_approval_after_timeout_keeps_the_late_event() -> None:
    assert output_of("approval_after_timeout") == "escalated, then yes by the manager"


def test_golden_sub_orchestrations() -> None:
    assert output_of("sub_orchestrations") == ["a1 ok", "b2: b2 unreachable", "c3 ok"]


def test_golden_in_flight_monitor_is_running_with_nothing_new_to_schedule() -> None:
    report = replay("monitor_in_flight")
    assert report.runtime_status is Status.Running
    assert report.pending_actions == ()


def test_golden_suspended_and_resumed_monitor_completes() -> None:
    result = output_of("monitor_suspended_and_resumed")
    assert (result["job"], result["polls"]) == ("nightly", 2)


def test_golden_terminated() -> None:
    report = replay("terminated")
    assert report.runtime_status is Status.Terminated
    assert report.output == '"not needed any more"'


def test_golden_unhandled_failure() -> None:
    report = replay("unhandled_failure")
    assert report.runtime_status is Status.Failed
    assert report.failure_details is not None
    assert str(report.failure_details) == "ValueError: order order-7 has a negative total"


def test_golden_renamed_activity_is_caught_as_nondeterminism() -> None:
    report = replay("process_order_in_flight", golden.process_order_renamed)
    assert not report.is_replay_safe
    assert report.runtime_status is Status.Failed
    message = str(report.nondeterminism)
    assert "history position 6" in message
    assert "history recorded TaskScheduled of activity 'charge_card' (task 1)" in message
    assert "asked for activity 'bill_customer' (task 1)" in message


def test_golden_early_return_is_caught_as_nondeterminism() -> None:
    """Bug fix: an orchestrator that now returns before a recorded step replayed silently."""
    report = replay("process_order_in_flight", golden.process_order_early_exit)
    assert not report.is_replay_safe
    assert "history position 6" in str(report.nondeterminism)
    assert "did not schedule task 1" in str(report.nondeterminism)


def test_golden_step_added_after_the_recorded_ones_is_replay_safe() -> None:
    report = replay("process_order_in_flight", golden.process_order_with_audit)
    assert report.is_replay_safe
    assert report.matches_history


def test_golden_continue_as_new_carries_late_and_held_events() -> None:
    """Bug fix: events after continue_as_new in the same batch, or held, were lost."""
    report = replay("continue_as_new_carries_late_events")
    assert report.runtime_status is Status.ContinuedAsNew
    assert report.output == "1"
    assert report.completion is not None
    assert report.completion.carryover_events == (("held", "1"), ("late", "2"))


def test_golden_duplicate_while_suspended_is_recorded_once() -> None:
    """Bug fix: a duplicate completion arriving during a suspension was recorded."""
    events = history("duplicate_while_suspended")
    task_0 = [e for e in events if isinstance(e, TaskCompleted) and e.task_scheduled_id == 0]
    assert [e.result for e in task_0] == ['"Hello Tokyo!"']
    assert output_of("duplicate_while_suspended") == [
        "Hello Tokyo!",
        "Hello Seattle!",
        "Hello London!",
    ]


def test_golden_duplicate_start_is_recorded_once() -> None:
    """Bug fix: a duplicate ExecutionStarted restarted the orchestrator from scratch."""
    events = history("duplicate_start")
    assert [e.event_type for e in events].count("ExecutionStarted") == 1
    assert [e.event_id for e in events if isinstance(e, TaskScheduled)] == [0, 1, 2]
    assert output_of("duplicate_start") == ["Hi", "Hello Seattle!", "Hello London!"]
