"""Suspend and resume: a suspended instance stores what arrives and applies it on resume."""

from __future__ import annotations

import datetime as _dt
import itertools
import json
from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.history import ExecutionResumed, ExecutionSuspended

from .helpers import Driver, Status

HOUR = _dt.timedelta(hours=1)
app = durably.App()


@app.activity
def echo(value: Any) -> Any:
    return value


@app.orchestrator
def three_waits(context: durably.OrchestrationContext) -> Any:
    """Waits on an activity, a timer and an event; returns the order they completed in."""
    waits = [
        ("activity", context.call_activity(echo, "a")),
        ("timer", context.create_timer(context.current_utc_datetime + HOUR)),
        ("event", context.wait_for_external_event("ping")),
    ]
    order = []
    while waits:
        winner = yield context.task_any([task for _, task in waits])
        label = next(label for label, task in waits if task is winner)
        waits = [(lbl, task) for lbl, task in waits if task is not winner]
        order.append(label)
    return order


@app.orchestrator
def wait_for_ping(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(echo, "first")
    ping = yield context.wait_for_external_event("ping")
    return [first, ping]


_DELIVERIES = {"activity": "TaskCompleted", "timer": "TimerFired", "event": "EventRaised"}


def _deliver(driver: Driver, instance_id: str, what: str) -> None:
    if what == "activity":
        driver.run()
    elif what == "event":
        driver.client.raise_event(instance_id, "ping", "pong")
        driver.run(activities=False)
    else:
        driver.run(activities=False, advance=2 * HOUR)


@pytest.mark.parametrize("cache_size", [1024, 0], ids=["cached", "replayed"])
@pytest.mark.parametrize("order", list(itertools.permutations(_DELIVERIES)), ids="-".join)
def test_suspended_instance_holds_results_events_and_timers_then_applies_them_in_order(
    backend: Backend, order: tuple[str, ...], cache_size: int
) -> None:
    driver = Driver(app, backend, cache_size=cache_size)
    instance_id = driver.client.start_new(three_waits)
    driver.run(activities=False)
    driver.client.suspend(instance_id, "maintenance")
    driver.run(activities=False)
    assert driver.runtime_status(instance_id) is Status.Suspended
    for what in order:
        _deliver(driver, instance_id, what)
        assert driver.runtime_status(instance_id) is Status.Suspended
        assert _DELIVERIES[what] in driver.event_types(instance_id)  # stored ...
        assert "ExecutionCompleted" not in driver.event_types(instance_id)  # ... not applied
    driver.client.resume(instance_id, "back")
    driver.run()
    assert driver.output(instance_id) == list(order)
    types = driver.event_types(instance_id)
    held = [types.index(_DELIVERIES[what]) for what in order]
    assert types.index("ExecutionSuspended") < held[0]
    assert held == sorted(held)
    assert held[-1] < types.index("ExecutionResumed") < types.index("ExecutionCompleted")


def test_suspend_and_resume_record_their_reasons(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(wait_for_ping)
    driver.run()
    driver.client.suspend(instance_id, {"ticket": 42})
    driver.run()
    driver.client.resume(instance_id, "fixed")
    driver.run()
    history = driver.client.get_history(instance_id)
    suspended = [e for e in history if isinstance(e, ExecutionSuspended)]
    resumed = [e for e in history if isinstance(e, ExecutionResumed)]
    assert [json.loads(e.reason or "null") for e in suspended] == [{"ticket": 42}]
    assert [json.loads(e.reason or "null") for e in resumed] == ["fixed"]
    assert driver.runtime_status(instance_id) is Status.Running


def test_a_suspended_pending_instance_starts_and_completes_after_resume(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(wait_for_ping)
    driver.client.suspend(instance_id)
    driver.client.raise_event(instance_id, "ping", 1)
    driver.run()
    assert driver.runtime_status(instance_id) is Status.Suspended
    driver.client.resume(instance_id)
    driver.run()
    assert driver.output(instance_id) == ["first", 1]


def test_a_resume_sent_before_the_suspend_was_processed_still_undoes_it(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(wait_for_ping)
    driver.run()
    driver.client.suspend(instance_id)
    driver.client.resume(instance_id)
    driver.client.raise_event(instance_id, "ping", 2)
    driver.run()
    assert driver.output(instance_id) == ["first", 2]


def test_a_suspended_instance_can_be_terminated(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(wait_for_ping)
    driver.run()
    driver.client.suspend(instance_id)
    driver.run()
    assert driver.client.terminate(instance_id, "no longer needed")
    driver.run()
    assert driver.runtime_status(instance_id) is Status.Terminated


@pytest.mark.parametrize("operation", ["suspend", "resume"])
def test_suspend_and_resume_refuse_a_finished_instance_naming_its_status(
    backend: Backend, operation: str
) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(wait_for_ping)
    driver.client.raise_event(instance_id, "ping", 3)
    driver.run()
    with pytest.raises(durably.InvalidInstanceStateError, match="it is Completed") as caught:
        getattr(driver.client, operation)(instance_id, "why")
    assert caught.value.runtime_status == "Completed"


def test_suspend_and_resume_with_a_threaded_worker(backend: Backend) -> None:
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        instance_id = client.start_new(three_waits)
        client.suspend(instance_id)
        _wait_for(client, instance_id, Status.Suspended)
        client.raise_event(instance_id, "ping")
        client.resume(instance_id)
        client.terminate(instance_id, "the timer is an hour away")
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.runtime_status is Status.Terminated


def _wait_for(client: durably.Client, instance_id: str, wanted: Status) -> None:
    for _ in range(3000):
        status = client.get_status(instance_id)
        if status is not None and status.runtime_status is wanted:
            return
        client.backend.wait_for_work("status", 0.01)
    raise AssertionError(f"{instance_id} never became {wanted}")
