"""Terminate: Pending, Running and Suspended instances; recursion into sub-orchestrations."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.history import ExecutionTerminated

from .helpers import Driver, Status

app = durably.App()
ran: list[Any] = []


@app.activity
def record(value: Any) -> Any:
    ran.append(value)
    return value


@app.orchestrator
def nap(context: durably.OrchestrationContext) -> Any:
    yield context.create_timer(context.current_utc_datetime + _dt.timedelta(hours=1))
    return (yield context.call_activity(record, "after the nap"))


@app.orchestrator
def leaf(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("never"))


@app.orchestrator
def branch(context: durably.OrchestrationContext) -> Any:
    return (yield context.task_all([context.call_sub_orchestrator(leaf) for _ in range(2)]))


@app.orchestrator
def root(context: durably.OrchestrationContext) -> Any:
    done = yield context.call_sub_orchestrator(leaf, instance_id="finished-leaf")
    return [done, (yield context.call_sub_orchestrator(branch))]


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def test_terminating_a_running_instance_records_the_reason(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(nap)
    driver.run()
    assert driver.client.terminate(instance_id, {"by": "ops"}) is True
    driver.run()
    status = driver.status(instance_id)
    assert status.runtime_status is Status.Terminated
    assert status.output == {"by": "ops"}
    terminated = [
        e for e in driver.client.get_history(instance_id) if isinstance(e, ExecutionTerminated)
    ]
    assert [json.loads(e.input or "null") for e in terminated] == [{"by": "ops"}]


def test_a_terminated_instance_ignores_its_timers_firing_later(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(nap)
    driver.run()
    driver.client.terminate(instance_id, "stop")
    driver.run()
    history = driver.event_types(instance_id)
    driver.run(advance=_dt.timedelta(hours=2))
    assert driver.runtime_status(instance_id) is Status.Terminated
    assert driver.event_types(instance_id) == history
    assert ran == []


def test_terminating_a_pending_instance_runs_nothing(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(nap)
    driver.client.terminate(instance_id, "changed my mind")
    driver.run(advance=_dt.timedelta(hours=2))
    assert driver.runtime_status(instance_id) is Status.Terminated
    assert "TimerCreated" not in driver.event_types(instance_id)
    assert ran == []


def test_an_activity_finishing_after_termination_changes_nothing(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(nap)
    driver.run()
    driver.run(advance=_dt.timedelta(hours=2), activities=False)  # the activity is queued
    driver.client.terminate(instance_id)
    driver.run(activities=False)
    history = driver.event_types(instance_id)
    driver.run(advance=_dt.timedelta(hours=2))  # now it runs and reports
    assert ran == ["after the nap"]
    assert driver.event_types(instance_id) == history
    assert driver.runtime_status(instance_id) is Status.Terminated


def test_terminating_a_finished_instance_is_a_no_op_that_says_so(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(nap)
    driver.run()
    driver.run(advance=_dt.timedelta(hours=2))
    history = driver.event_types(instance_id)
    assert driver.client.terminate(instance_id, "too late") is False
    driver.run()
    assert driver.output(instance_id) == "after the nap"
    assert driver.event_types(instance_id) == history


def _tree(driver: Driver) -> dict[str, Status]:
    return {s.instance_id: s.runtime_status for s in driver.client.get_status_all()}


def test_termination_recurses_into_running_sub_orchestrations_by_default(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(root, instance_id="root")
    driver.run()
    driver.client.raise_event("finished-leaf", "never", "done")
    driver.run()
    assert len(_tree(driver)) == 5  # root, finished-leaf, branch and its two leaves
    driver.client.terminate("root", "shutting down")
    driver.run()
    tree = _tree(driver)
    assert tree.pop("finished-leaf") is Status.Completed
    assert set(tree.values()) == {Status.Terminated}
    assert len(tree) == 4
    leaves = [i for i in tree if i.startswith("root:") and i.count(":") == 2]
    assert all(driver.status(i).output == "shutting down" for i in leaves)


def test_termination_without_recursion_leaves_children_running(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(branch, instance_id="branch")
    driver.run()
    driver.client.terminate("branch", "only the parent", recursive=False)
    driver.run()
    tree = _tree(driver)
    assert tree.pop("branch") is Status.Terminated
    assert list(tree.values()) == [Status.Running, Status.Running]


def test_a_terminated_child_fails_its_still_running_parent(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(branch, instance_id="parent")
    driver.run()
    child = next(i for i in _tree(driver) if i != "parent")
    driver.client.terminate(child, "just this one")
    driver.run()
    status = driver.status("parent")
    assert status.runtime_status is Status.Failed
    assert "terminated" in status.output
