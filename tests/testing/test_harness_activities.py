"""Harness: fake activities, the calls made in order, retries in virtual time,
sub-orchestrations, continue_as_new, failures, and an app left as it was."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

import durably
from durably.testing import Call, Harness

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
app = durably.App()


@app.activity
def charge(order: dict[str, Any]) -> str:
    raise ConnectionError("the real gateway is not reachable from tests")


@app.activity
def ship(order: dict[str, Any]) -> str:
    return f"shipped {order['id']}"


@app.activity
def notify(message: str) -> None:
    raise AssertionError("the real notifier must not run")


@app.orchestrator
def checkout(context: durably.OrchestrationContext) -> Any:
    order = context.get_input()
    retry = durably.RetryOptions(
        first_retry_interval_in_milliseconds=60_000,
        max_number_of_attempts=4,
        backoff_coefficient=2.0,
    )
    receipt = yield context.call_activity_with_retry(charge, retry, order)
    shipped = yield context.call_activity("ship", order)
    yield context.call_activity(notify, f"{order['id']}: {shipped}")
    return [receipt, shipped]


@app.orchestrator
def fan_out(context: durably.OrchestrationContext) -> Any:
    orders = context.get_input()
    shipped = yield context.task_all([context.call_activity(ship, o) for o in orders])
    summary = yield context.call_sub_orchestrator(announce, shipped, instance_id="announce")
    return summary


@app.orchestrator
def announce(context: durably.OrchestrationContext) -> Any:
    lines = context.get_input()
    for line in lines:
        yield context.call_activity(notify, line)
    return len(lines)


@app.orchestrator
def countdown(context: durably.OrchestrationContext) -> Any:
    left = context.get_input()
    context.set_custom_status({"left": left})
    yield context.call_activity(notify, f"{left} left")
    if left == 0:
        return "lift-off"
    yield context.create_timer(dt.timedelta(minutes=1))
    context.continue_as_new(left - 1)
    return None


@app.orchestrator
def gives_up(context: durably.OrchestrationContext) -> Any:
    yield context.call_activity(charge, {"id": "o-9"})
    return "unreachable"


_replays = itertools.count()


@app.orchestrator
def reads_a_counter(context: durably.OrchestrationContext) -> Any:
    # Nondeterministic on purpose: each replay sees another value.
    first = "ship" if next(_replays) % 2 == 0 else "notify"
    yield context.call_activity(first, {"id": "o-1"})
    yield context.call_activity(ship, {"id": "o-2"})


def _accept(order: dict[str, Any]) -> str:
    return f"receipt for {order['id']}"


def test_mock_by_name_or_by_function_and_the_calls_in_order() -> None:
    with Harness(app, start=T0) as harness:
        harness.mock_activity("charge", _accept)
        sent: list[str] = []
        harness.mock_activity(name=notify, fn=sent.append)  # DESIGN's names
        client = harness.client()
        instance_id = client.start_new(checkout, "c1", {"id": "o-1"})
        status = client.wait_for_completion(instance_id)
        assert status.output == ["receipt for o-1", "shipped o-1"]
        assert sent == ["o-1: shipped o-1"]
        assert [(c.name, c.input) for c in harness.calls] == [
            ("charge", {"id": "o-1"}),
            ("ship", {"id": "o-1"}),
            ("notify", "o-1: shipped o-1"),
        ]
        assert harness.calls[0] == Call(name="charge", input={"id": "o-1"}, instance_id="c1", at=T0)
        assert harness.calls_of(ship) == harness.calls_of("ship") == [{"id": "o-1"}]


def test_the_app_is_unchanged_and_activities_stay_plain_functions() -> None:
    with Harness(app) as harness:
        harness.mock_activity(ship, lambda order: "faked")
        harness.mock_activity(notify, lambda: None)  # a fake may ignore the input
        client = harness.client()
        output = client.wait_for_completion(client.start_new(fan_out, client_input=[1])).output
        assert output == 1
    assert app.activities["ship"] is ship
    assert ship({"id": "o-5"}) == "shipped o-5"
    with Harness(app) as fresh:  # another harness runs the real ship
        fresh.mock_activity(notify, lambda message: None)
        client = fresh.client()
        client.wait_for_completion(client.start_new(fan_out, client_input=[{"id": "x"}]))
        assert fresh.calls_of(notify) == ["shipped x"]


def test_a_failing_fake_is_retried_with_backoff_in_virtual_time() -> None:
    attempts: list[dt.datetime] = []

    def flaky(order: dict[str, Any]) -> str:
        if len(attempts) < 3:
            attempts.append(harness.now)
            raise ConnectionError("gateway timeout")
        return "paid"

    with Harness(app, start=T0) as harness:
        harness.mock_activity(charge, flaky)
        harness.mock_activity(notify, lambda message: None)
        client = harness.client()
        status = client.wait_for_completion(client.start_new(checkout, client_input={"id": "o"}))
        assert status.output == ["paid", "shipped o"]
        minute = dt.timedelta(minutes=1)
        assert [c.at for c in harness.calls if c.name == "charge"] == [
            T0,
            T0 + minute,
            T0 + 3 * minute,
            T0 + 7 * minute,
        ]
        assert attempts == [T0, T0 + minute, T0 + 3 * minute]


def test_an_exception_in_a_fake_is_a_task_failure_and_can_fail_the_instance() -> None:
    def declined(order: dict[str, Any]) -> str:
        raise ValueError(f"card declined for {order['id']}")

    with Harness(app, start=T0) as harness:
        harness.mock_activity(charge, declined)
        client = harness.client()
        status = client.wait_for_completion(client.start_new(gives_up, "g"))
        assert status.runtime_status is durably.OrchestrationRuntimeStatus.Failed
        assert "TaskFailedError" in status.output
        assert "card declined for o-9" in status.output
        failed = [e for e in client.get_history("g") if e.event_type == "TaskFailed"]
        assert failed[0].failure_details.error_type == "ValueError"


def test_async_fakes_run_too() -> None:
    async def accept(order: dict[str, Any]) -> str:
        return "async receipt"

    with Harness(app) as harness:
        harness.mock_activity(charge, accept)
        harness.mock_activity(notify, lambda message: None)
        client = harness.client()
        output = client.wait_for_completion(client.start_new(checkout, client_input={"id": 1}))
        assert output.output == ["async receipt", "shipped 1"]


def test_calls_of_sub_orchestrations_are_recorded_with_their_instance() -> None:
    with Harness(app, start=T0) as harness:
        harness.mock_activity(notify, lambda message: None)
        client = harness.client()
        orders = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
        status = client.wait_for_completion(client.start_new(fan_out, "fan", orders))
        assert status.output == 3
        assert [(c.instance_id, c.name, c.input) for c in harness.calls] == [
            ("fan", "ship", {"id": "a"}),
            ("fan", "ship", {"id": "b"}),
            ("fan", "ship", {"id": "c"}),
            ("announce", "notify", "shipped a"),
            ("announce", "notify", "shipped b"),
            ("announce", "notify", "shipped c"),
        ]
        assert client.get_status("announce").parent_instance_id == "fan"


def test_continue_as_new_runs_every_generation() -> None:
    with Harness(app, start=T0) as harness:
        harness.mock_activity(notify, lambda message: None)
        client = harness.client()
        instance_id = client.start_new(countdown, client_input=3)
        assert client.get_status(instance_id).custom_status == {"left": 3}
        status = client.wait_for_completion(instance_id)
        assert status.output == "lift-off"
        assert harness.calls_of(notify) == ["3 left", "2 left", "1 left", "0 left"]
        assert harness.now == T0 + dt.timedelta(minutes=3)
        assert client.get_status(instance_id).custom_status == {"left": 0}
        history = client.get_history(instance_id)  # the last generation's only
        assert [e.event_type for e in history][1] == "ExecutionStarted"


def test_replaying_every_episode_catches_nondeterminism() -> None:
    with Harness(app) as harness:
        client = harness.client()
        status = client.wait_for_completion(client.start_new(reads_a_counter))
        assert status.runtime_status is durably.OrchestrationRuntimeStatus.Failed
        assert "NonDeterministicOrchestrationError" in status.output
    with Harness(app, cache_size=100) as cached:  # a live generator is not replayed
        cached.mock_activity(notify, lambda message: None)
        client = cached.client()
        status = client.wait_for_completion(client.start_new(reads_a_counter))
        assert status.runtime_status is durably.OrchestrationRuntimeStatus.Completed


def test_only_registered_activities_can_be_mocked() -> None:
    with (
        Harness(app) as harness,
        pytest.raises(ValueError, match="no activity named 'chrage'; known activities: charge"),
    ):
        harness.mock_activity("chrage", _accept)
