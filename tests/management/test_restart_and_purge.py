"""Restart (a new run from the original input) and purge (one instance, or by filter)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

from .helpers import Driver, Status

app = durably.App()
runs: list[Any] = []


@app.activity
def work(value: Any) -> Any:
    runs.append(value)
    return value


@app.orchestrator
def once(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(work, context.get_input()))


@app.orchestrator
def gated(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("go"))


@app.orchestrator
def family(context: durably.OrchestrationContext) -> Any:
    kids = [context.call_sub_orchestrator(once, n, instance_id=f"kid-{n}") for n in range(2)]
    grandkid = context.call_sub_orchestrator(family_leaf, instance_id="kid-leaf")
    return (yield context.task_all([*kids, grandkid]))


@app.orchestrator
def family_leaf(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_sub_orchestrator(once, "deep", instance_id="grandkid"))


@pytest.fixture(autouse=True)
def _clear() -> None:
    runs.clear()


# -- restart ---------------------------------------------------------------------------


def test_restart_under_the_same_id_runs_again_from_the_original_input(backend: Backend) -> None:
    driver = Driver(app, backend)
    instance_id = driver.client.start_new(once, "order-1", {"n": 1})
    driver.run()
    first_created = driver.status(instance_id).created_time
    assert driver.client.restart(instance_id) == instance_id
    assert driver.runtime_status(instance_id) is Status.Pending
    driver.run()
    status = driver.status(instance_id)
    assert status.output == {"n": 1} and status.input_ == {"n": 1}
    assert status.created_time >= first_created
    assert runs == [{"n": 1}, {"n": 1}]
    assert driver.event_types(instance_id).count("ExecutionStarted") == 1


def test_restart_under_a_new_id_leaves_the_old_instance_alone(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(once, "old", "x")
    driver.run()
    old_history = driver.event_types("old")
    assert driver.client.restart("old", new_instance_id="new") == "new"
    driver.run()
    assert driver.output("new") == "x"
    assert driver.output("old") == "x"
    assert driver.event_types("old") == old_history


def test_restart_of_an_active_instance_needs_a_new_id(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(gated, "waiting")
    driver.run()
    with pytest.raises(durably.InvalidInstanceStateError, match=r"cannot restart .* it is Running"):
        driver.client.restart("waiting")
    assert driver.client.restart("waiting", "copy") == "copy"
    with pytest.raises(ValueError, match="must not contain"):
        driver.client.restart("waiting", "bad/id")


def test_restart_works_on_failed_and_terminated_instances(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(gated, "stopped")
    driver.client.terminate("stopped")
    driver.run()
    assert driver.runtime_status("stopped") is Status.Terminated
    driver.client.restart("stopped")
    driver.client.raise_event("stopped", "go", "went")
    driver.run()
    assert driver.output("stopped") == "went"


# -- purge ---------------------------------------------------------------------------


def test_purging_a_finished_instance_deletes_it_and_its_history(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(once, "done", 1)
    driver.run()
    assert driver.client.purge_instance_history("done") == durably.PurgeHistoryResult(1)
    assert driver.client.get_status("done") is None
    with pytest.raises(durably.InstanceNotFoundError):
        driver.client.get_history("done")
    driver.client.start_new(once, "done", 2)  # the id is free again
    driver.run()
    assert driver.output("done") == 2


def test_purging_an_active_instance_is_refused_naming_its_status(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(gated, "busy")
    with pytest.raises(durably.InvalidInstanceStateError, match="it is Pending"):
        driver.client.purge_instance_history("busy")
    driver.run()
    with pytest.raises(durably.InvalidInstanceStateError, match="it is Running"):
        driver.client.purge_instance_history("busy")
    assert driver.runtime_status("busy") is Status.Running


@pytest.mark.parametrize("recursive", [False, True])
def test_purge_includes_sub_orchestrations_when_asked(backend: Backend, recursive: bool) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(family, "family")
    driver.run()
    assert driver.runtime_status("family") is Status.Completed
    before = {s.instance_id for s in driver.client.get_status_all()}
    assert before == {"family", "kid-0", "kid-1", "kid-leaf", "grandkid"}
    result = driver.client.purge_instance_history("family", recursive=recursive)
    after = {s.instance_id for s in driver.client.get_status_all()}
    if recursive:
        assert result.instances_deleted == 5 and after == set()
    else:
        assert result.instances_deleted == 1 and after == before - {"family"}


def test_recursive_purge_skips_children_that_are_still_running(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(family, "family")
    driver.run(activities=False)
    driver.client.terminate("family", "stop", recursive=False)
    driver.run(activities=False)
    result = driver.client.purge_instance_history("family", recursive=True)
    assert result.instances_deleted == 1
    assert {s.runtime_status for s in driver.client.get_status_all()} == {Status.Running}


def test_purge_by_filter_deletes_only_finished_instances_in_range(backend: Backend) -> None:
    driver = Driver(app, backend)
    for n in range(3):
        driver.client.start_new(once, f"early-{n}", n)
    driver.client.start_new(gated, "early-running")
    driver.client.start_new(gated, "early-failed")
    driver.run()
    driver.client.terminate("early-failed")  # Terminated counts as finished too
    driver.run()
    middle = _dt.datetime.now(_dt.UTC)
    driver.client.start_new(once, "late", 9)
    driver.run()
    result = driver.client.purge_instance_history_by(created_time_to=middle)
    assert result.instances_deleted == 4
    left = {s.instance_id for s in driver.client.get_status_all()}
    assert left == {"early-running", "late"}


def test_purge_by_status_and_the_statuses_it_accepts(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(once, "ok", 1)
    driver.client.start_new(gated, "stopped")
    driver.client.terminate("stopped")
    driver.run()
    result = driver.client.purge_instance_history_by(runtime_status=[Status.Terminated])
    assert result.instances_deleted == 1
    assert driver.client.get_status("stopped") is None
    with pytest.raises(ValueError, match="only finished instances can be purged, not Running"):
        driver.client.purge_instance_history_by(runtime_status=["Completed", "Running"])
    assert (
        driver.client.purge_instance_history_by(runtime_status="Completed").instances_deleted == 1
    )
    assert driver.client.purge_instance_history_by().instances_deleted == 0
