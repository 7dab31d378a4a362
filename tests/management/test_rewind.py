"""Rewind: a Failed instance re-runs its failed work and keeps what succeeded."""

from __future__ import annotations

import collections
import datetime as _dt
import json
from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.history import GenericEvent, SubOrchestrationInstanceFailed, TaskFailed

from .helpers import Driver, Status

app = durably.App()
calls: collections.Counter[str] = collections.Counter()
failing: set[str] = set()
bug = {"on": False}
HOUR = _dt.timedelta(hours=1)


@app.activity
def step(name: str) -> str:
    calls[name] += 1
    if name in failing:
        raise RuntimeError(f"{name} failed")
    return name


@app.orchestrator
def sequence(context: durably.OrchestrationContext) -> Any:
    done = []
    for name in ("a", "b", "c"):
        done.append((yield context.call_activity(step, name)))
    return done


@app.orchestrator
def fan_out(context: durably.OrchestrationContext) -> Any:
    return (yield context.task_all([context.call_activity(step, n) for n in ("x1", "x2", "x3")]))


@app.orchestrator
def child(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(step, "c1")
    return [first, (yield context.call_activity(step, context.get_input()))]


@app.orchestrator
def parent(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(step, "p1")
    kid = yield context.call_sub_orchestrator(child, "c2", instance_id="kid")
    return [first, kid, (yield context.call_activity(step, "p2"))]


@app.orchestrator
def buggy(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(step, "before the bug")
    if bug["on"]:
        raise ValueError("a bug in the orchestrator")
    return [first, (yield context.call_activity(step, "after the bug"))]


@app.orchestrator
def retried(context: durably.OrchestrationContext) -> Any:
    options = durably.RetryOptions(first_retry_interval_in_milliseconds=1, max_number_of_attempts=2)
    return (yield context.call_activity_with_retry(step, options, "flaky"))


@app.orchestrator
def timer_and_step(context: durably.OrchestrationContext) -> Any:
    timer = context.create_timer(context.current_utc_datetime + HOUR)
    work = context.call_activity(step, "t1")
    yield context.task_all([timer, work])
    return work.result


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    failing.clear()
    bug["on"] = False


def _failed(driver: Driver, instance_id: str) -> None:
    driver.run()
    assert driver.runtime_status(instance_id) is Status.Failed


def _traces(driver: Driver, instance_id: str) -> list[dict[str, Any]]:
    events = driver.client.get_history(instance_id)
    return [json.loads(e.data or "null") for e in events if isinstance(e, GenericEvent)]


def test_rewind_reruns_the_failed_activity_and_continues(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(sequence)
    failing.add("b")
    _failed(driver, instance_id)
    failing.clear()
    driver.client.rewind(instance_id, "the b service is back")
    driver.run(activities=False)
    assert driver.runtime_status(instance_id) is Status.Running
    driver.run()
    assert driver.output(instance_id) == ["a", "b", "c"]
    assert calls == {"a": 1, "b": 2, "c": 1}


def test_rewind_keeps_a_trace_of_the_failure_in_history(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(sequence)
    failing.add("b")
    _failed(driver, instance_id)
    failing.clear()
    driver.client.rewind(instance_id, "retrying b")
    driver.run()
    history = driver.client.get_history(instance_id)
    assert not any(isinstance(e, TaskFailed) for e in history)
    traces = _traces(driver, instance_id)
    rewound = [t["event"]["EventType"] for t in traces if t["kind"] == "durably.rewound"]
    assert rewound == ["TaskFailed", "ExecutionCompleted"]
    assert {"kind": "durably.rewind", "reason": "retrying b"} in traces
    assert [e.event_type for e in history].count("ExecutionCompleted") == 1


def test_rewind_of_a_fan_out_reruns_only_the_failed_branch(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(fan_out)
    failing.add("x3")
    _failed(driver, instance_id)
    failing.clear()
    driver.client.rewind(instance_id)
    driver.run()
    assert driver.output(instance_id) == ["x1", "x2", "x3"]
    assert calls == {"x1": 1, "x2": 1, "x3": 2}


def test_rewind_reruns_work_whose_result_arrived_after_the_failure(backend: Backend) -> None:
    # x1 fails first; the results of x2 and x3 reach a Failed instance and are dropped.
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(fan_out)
    failing.add("x1")
    _failed(driver, instance_id)
    failing.clear()
    driver.client.rewind(instance_id)
    driver.run()
    assert driver.output(instance_id) == ["x1", "x2", "x3"]
    assert calls["x1"] == 2


def test_rewind_rewinds_a_failed_sub_orchestration_recursively(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(parent)
    failing.add("c2")
    _failed(driver, instance_id)
    assert driver.runtime_status("kid") is Status.Failed
    failing.clear()
    driver.client.rewind(instance_id, "fixed c2")
    driver.run()
    assert driver.output(instance_id) == ["p1", ["c1", "c2"], "p2"]
    assert driver.output("kid") == ["c1", "c2"]
    assert calls == {"p1": 1, "c1": 1, "c2": 2, "p2": 1}
    parent_history = driver.client.get_history(instance_id)
    assert not any(isinstance(e, SubOrchestrationInstanceFailed) for e in parent_history)
    assert {"kind": "durably.rewind", "reason": "fixed c2"} in _traces(driver, "kid")


def test_rewind_starts_a_purged_sub_orchestration_again(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(parent)
    failing.add("c2")
    _failed(driver, instance_id)
    driver.client.purge_instance_history("kid")
    failing.clear()
    driver.client.rewind(instance_id)
    driver.run()
    assert driver.output(instance_id) == ["p1", ["c1", "c2"], "p2"]
    assert calls == {"p1": 1, "c1": 2, "c2": 2, "p2": 1}


def test_rewind_of_an_orchestrator_bug_replays_without_rerunning_activities(
    backend: Backend,
) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(buggy)
    bug["on"] = True
    _failed(driver, instance_id)
    bug["on"] = False  # the fix is deployed
    driver.client.rewind(instance_id)
    driver.run()
    assert driver.output(instance_id) == ["before the bug", "after the bug"]
    assert calls == {"before the bug": 1, "after the bug": 1}


def test_rewind_after_retries_ran_out_starts_the_retries_again(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(retried)
    failing.add("flaky")
    driver.run()
    driver.run(advance=HOUR)  # the retry timer fires; the second attempt fails too
    assert driver.runtime_status(instance_id) is Status.Failed
    assert calls["flaky"] == 2
    failing.clear()
    driver.client.rewind(instance_id)
    driver.run()
    assert driver.output(instance_id) == "flaky"
    assert calls["flaky"] == 3


@pytest.mark.parametrize("fired_while_failed", [False, True], ids=["pending", "fired"])
def test_rewind_keeps_timers_whether_they_fired_while_failed_or_not(
    backend: Backend, fired_while_failed: bool
) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(timer_and_step)
    failing.add("t1")
    _failed(driver, instance_id)
    if fired_while_failed:
        driver.run(advance=2 * HOUR)  # the TimerFired message reaches a Failed instance
    failing.clear()
    driver.client.rewind(instance_id)
    driver.run()
    assert driver.runtime_status(instance_id) is Status.Running  # waiting for the timer
    driver.run(advance=2 * HOUR)
    assert driver.output(instance_id) == "t1"
    assert calls["t1"] == 2


def test_an_instance_can_be_rewound_again_after_failing_again(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(sequence)
    failing.add("b")
    _failed(driver, instance_id)
    driver.client.rewind(instance_id, "first try")
    _failed(driver, instance_id)
    failing.clear()
    driver.client.rewind(instance_id, "second try")
    driver.run()
    assert driver.output(instance_id) == ["a", "b", "c"]
    assert calls == {"a": 1, "b": 3, "c": 1}


def test_rewind_refuses_an_instance_that_is_not_failed(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(timer_and_step)
    driver.run()
    with pytest.raises(durably.InvalidInstanceStateError, match=r"cannot rewind .* it is Running"):
        driver.client.rewind(instance_id)
    driver.run(advance=2 * HOUR)
    with pytest.raises(durably.InvalidInstanceStateError, match="it is Completed"):
        driver.client.rewind(instance_id)


def test_rewind_with_a_threaded_worker(backend: Backend) -> None:
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        failing.add("c2")
        instance_id = client.start_new(parent)
        assert client.wait_for_completion(instance_id, timeout=30).runtime_status is Status.Failed
        failing.clear()
        client.rewind(instance_id)
        for _ in range(3000):  # wait until the rewind was applied, then for completion
            status = client.get_status(instance_id)
            if status is not None and status.runtime_status is not Status.Failed:
                break
            client.backend.wait_for_work("status", 0.01)
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.output == ["p1", ["c1", "c2"], "p2"]
