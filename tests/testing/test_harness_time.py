"""Harness: virtual time. Timers fire at once, events are raised at a virtual time, waits
that cannot end fail fast, and every timestamp an orchestration sees is virtual."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import durably
from durably.testing import Harness

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
app = durably.App()


@app.activity
def bill(month: int) -> str:
    return f"billed month {month}"


@app.orchestrator
def yearly_billing(context: durably.OrchestrationContext) -> Any:
    bills = []
    for month in range(12):
        yield context.create_timer(context.current_utc_datetime + 30 * DAY)
        bills.append((yield context.call_activity(bill, month)))
    return {"bills": bills, "ended": context.current_utc_datetime.isoformat()}


@app.orchestrator
def approval(context: durably.OrchestrationContext) -> Any:
    context.set_custom_status("waiting for approval")
    decision = context.wait_for_external_event("Approval")
    deadline = context.create_timer(context.current_utc_datetime + 3 * DAY)
    winner = yield context.task_any([decision, deadline])
    if winner is decision:
        deadline.cancel()
        context.set_custom_status("decided")
        return {"approved": decision.result, "at": context.current_utc_datetime.isoformat()}
    context.set_custom_status("escalated")
    return {"escalated_at": context.current_utc_datetime.isoformat()}


@app.orchestrator
def waits_forever(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("Never"))


@app.orchestrator
def parent_of_waiter(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_sub_orchestrator(waits_forever, instance_id="child"))


@app.orchestrator
def ticks(context: durably.OrchestrationContext) -> Any:
    times = []
    for _ in range(3):
        yield context.create_timer(dt.timedelta(hours=1))
        times.append(context.current_utc_datetime.isoformat())
    return times


def test_twelve_thirty_day_timers_finish_at_once_in_virtual_time() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(yearly_billing)
        status = client.wait_for_completion(instance_id)
        assert status.runtime_status is durably.OrchestrationRuntimeStatus.Completed
        assert status.output["bills"] == [f"billed month {m}" for m in range(12)]
        assert status.output["ended"] == (T0 + 360 * DAY).isoformat()
        assert harness.now == T0 + 360 * DAY
        assert status.last_updated_time == T0 + 360 * DAY
        fired = [e for e in client.get_history(instance_id) if e.event_type == "TimerFired"]
        assert [e.timestamp for e in fired] == [T0 + 30 * DAY * n for n in range(1, 13)]


def test_an_event_raised_after_advance_arrives_at_that_virtual_time() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(approval)
        assert client.get_status(instance_id).custom_status == "waiting for approval"
        harness.advance(2 * DAY)
        assert harness.now == T0 + 2 * DAY
        client.raise_event(instance_id, "Approval", True)
        status = client.get_status(instance_id)
        assert status.runtime_status is durably.OrchestrationRuntimeStatus.Completed
        assert status.output == {"approved": True, "at": (T0 + 2 * DAY).isoformat()}
        assert status.custom_status == "decided"
        raised = [e for e in client.get_history(instance_id) if e.event_type == "EventRaised"]
        assert [e.timestamp for e in raised] == [T0 + 2 * DAY]


def test_the_timeout_timer_wins_when_no_event_comes() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(approval)
        status = client.wait_for_completion(instance_id)
        assert status.output == {"escalated_at": (T0 + 3 * DAY).isoformat()}
        assert client.get_status(instance_id).custom_status == "escalated"


def test_advance_fires_each_timer_at_its_own_time_and_stops_at_the_target() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(ticks)
        harness.advance(dt.timedelta(hours=2, minutes=30))
        assert harness.now == T0 + dt.timedelta(hours=2, minutes=30)
        assert client.get_status(instance_id).runtime_status.value == "Running"
        harness.advance(dt.timedelta(hours=1).total_seconds())  # seconds work too
        hours = [(T0 + dt.timedelta(hours=h)).isoformat() for h in (1, 2, 3)]
        assert client.get_status(instance_id).output == hours


def test_waiting_for_an_event_nobody_sends_fails_fast_naming_it() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(waits_forever, "lonely")
        with pytest.raises(TimeoutError, match=r"'lonely' waits for event 'Never'"):
            client.wait_for_completion(instance_id)
        assert harness.now == T0
        parent = client.start_new(parent_of_waiter, "parent")
        message = r"'parent' waits for sub-orchestration 'child', which waits for event 'Never'"
        with pytest.raises(TimeoutError, match=message):
            client.wait_for_completion(parent)
        client.raise_event("child", "Never", 7)
        assert client.wait_for_completion(parent).output == 7


def test_a_suspended_instance_is_reported_as_waiting_for_a_resume() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(ticks, "paused")
        client.suspend(instance_id)
        with pytest.raises(TimeoutError, match=r"'paused' waits for a resume"):
            client.wait_for_completion(instance_id)
        client.resume(instance_id)
        assert len(client.wait_for_completion(instance_id).output) == 3


def test_the_wait_timeout_is_virtual() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(yearly_billing)
        with pytest.raises(TimeoutError, match="still Running after 45 days"):
            client.wait_for_completion(instance_id, timeout=dt.timedelta(days=45))
        assert harness.now == T0 + 45 * DAY
        assert harness.calls_of(bill) == [0]
        status = client.wait_for_completion(instance_id, timeout=400 * 86400)
        assert status.runtime_status.value == "Completed"


def test_client_stamps_and_the_status_times_are_virtual() -> None:
    with Harness(app, start=T0) as harness:
        harness.advance(10 * DAY)
        client = harness.client()
        instance_id = client.start_new(ticks)
        status = client.wait_for_completion(instance_id)
        assert status.created_time == T0 + 10 * DAY
        assert status.last_updated_time == T0 + 10 * DAY + dt.timedelta(hours=3)
        history = client.get_history(instance_id)
        assert all(e.timestamp >= T0 + 10 * DAY for e in history)


def test_runs_are_repeatable_from_a_given_start() -> None:
    def run() -> list[dict[str, Any]]:
        with Harness(app, start=T0) as harness:
            client = harness.client()
            instance_id = client.start_new(approval, "same")
            harness.advance(DAY)
            client.raise_event(instance_id, "Approval", False)
            return [e.to_dict() for e in client.get_history(instance_id)]

    assert run() == run()


def test_terminate_takes_effect_at_once() -> None:
    with Harness(app, start=T0) as harness:
        client = harness.client()
        instance_id = client.start_new(waits_forever)
        assert client.terminate(instance_id, "no longer needed")
        status = client.wait_for_completion(instance_id)
        assert status.runtime_status.value == "Terminated"


def test_time_cannot_go_back_and_unknown_instances_are_refused() -> None:
    with Harness(app) as harness:
        with pytest.raises(ValueError, match="cannot go back"):
            harness.advance(-DAY)
        with pytest.raises(durably.InstanceNotFoundError):
            harness.client().wait_for_completion("nobody")


@app.entity
def tally(context: durably.EntityContext) -> None:
    context.set_state(context.get_state(lambda: 0) + context.get_input())


@pytest.mark.parametrize("start", [None, T0])
def test_a_client_s_signal_reaches_its_entity(start: dt.datetime | None) -> None:
    with Harness(app, start=start) as harness:
        client = harness.client()
        client.signal_entity(entity_id=durably.EntityId("tally", "t"), operation="add", input_=2)
        client.signal_entity(("tally", "t"), "add", 3)
        found = client.read_entity_state(entity_id=("tally", "t"))
    assert found == durably.EntityStateResponse(True, 5)
