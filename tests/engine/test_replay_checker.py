"""durably.testing.replay.replay_history: the inputs it takes and what it reports."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from durably.actions import ScheduleTask
from durably.engine.context import OrchestrationContext
from durably.errors import NonDeterministicOrchestrationError
from durably.history import HistoryEvent, OrchestrationRuntimeStatus
from durably.testing.replay import load_history, replay_history

from . import golden
from .helpers import Run, completed, raised

Status = OrchestrationRuntimeStatus
IN_FLIGHT = golden.SCENARIOS["process_order_in_flight"]


def events() -> list[HistoryEvent]:
    return [HistoryEvent.from_dict(d) for d in golden.load("process_order_in_flight")]


@pytest.mark.parametrize(
    "form",
    ["path", "json text", "json bytes", "dicts", "events", "status with history"],
)
def test_history_is_accepted_in_every_exported_form(form: str) -> None:
    dicts = golden.load("process_order_in_flight")
    given: Any = {
        "path": IN_FLIGHT.path,
        "json text": json.dumps(dicts),
        "json bytes": json.dumps(dicts).encode(),
        "dicts": dicts,
        "events": events(),
        "status with history": json.dumps({"runtimeStatus": "Running", "historyEvents": dicts}),
    }[form]
    assert load_history(given) == events()
    assert replay_history(golden.process_order, given).matches_history


def test_report_names_the_instance_and_orchestrator_from_the_history() -> None:
    report = replay_history(golden.process_order, IN_FLIGHT.path)
    assert (report.instance_id, report.name) == ("golden", "process_order")
    assert (report.runtime_status, report.recorded_status) == (Status.Running, Status.Running)


def test_report_lists_actions_the_code_would_schedule_next() -> None:
    def parallel_audit(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        reserved = yield context.call_activity("reserve_stock", context.get_input())
        charge = context.call_activity("charge_card", reserved)
        context.call_activity("audit", reserved)
        yield charge

    report = replay_history(parallel_audit, IN_FLIGHT.path)
    assert report.is_replay_safe
    assert report.pending_actions == (ScheduleTask(task_id=2, name="audit", input='"reserved"'),)


def test_nondeterminism_is_reported_not_raised_until_asked() -> None:
    report = replay_history(golden.process_order_renamed, IN_FLIGHT.path)
    assert isinstance(report.nondeterminism, NonDeterministicOrchestrationError)
    assert report.events_replayed == 6  # the events before the one that did not match
    assert not report.matches_history
    assert "charge_card" in str(report)
    with pytest.raises(NonDeterministicOrchestrationError, match="bill_customer"):
        report.raise_if_nondeterministic()


def test_safe_report_raises_nothing() -> None:
    replay_history(golden.process_order, IN_FLIGHT.path).raise_if_nondeterministic()


def test_code_that_now_completes_where_history_waited_differs_from_history() -> None:
    def waiter(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.wait_for_external_event("go")

    def impatient(context: OrchestrationContext) -> Any:
        return "done"

    run = Run(waiter, instance_id="w", name="waiter")
    run.start()
    report = replay_history(impatient, run.history)
    assert report.is_replay_safe
    assert not report.matches_history
    assert report.differences == ("history ends Running, the replay reached Completed",)


def test_changed_output_of_a_completed_history_is_a_difference() -> None:
    def shouted(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        results = yield from golden.hello_sequence(context)
        return [r.upper() for r in results]

    report = replay_history(shouted, golden.SCENARIOS["function_chaining"].path)
    assert report.is_replay_safe
    assert len(report.differences) == 1
    assert "HELLO TOKYO!" in report.differences[0]


def test_failures_compare_by_type_and_message_not_traceback() -> None:
    def failing_elsewhere(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        order = yield context.call_activity("load_order", context.get_input())
        raise ValueError(f"order {order['id']} has a negative total")

    report = replay_history(failing_elsewhere, golden.SCENARIOS["unhandled_failure"].path)
    assert report.matches_history


def test_instance_id_can_be_overridden() -> None:
    report = replay_history(
        golden.monitor, golden.SCENARIOS["monitor_suspended_and_resumed"].path, instance_id="y"
    )
    assert report.instance_id == "y"
    assert report.is_replay_safe
    assert not report.matches_history  # new_uuid() depends on the instance id


def test_history_without_execution_started_is_refused() -> None:
    with pytest.raises(ValueError, match="no ExecutionStarted"):
        replay_history(golden.process_order, [raised("x").to_dict()])


def test_history_exported_as_json_replays() -> None:
    run = Run(golden.process_order, instance_id="order-1", name="process_order")
    run.start({"order": 1})
    run.episode(completed(0, "reserved"), when=1)
    exported = json.dumps([e.to_dict() for e in run.history])
    assert load_history(exported) == run.history
    assert replay_history(golden.process_order, exported).matches_history
