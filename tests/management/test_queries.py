"""Queries: get_status options, get_status_all / get_status_by, paged list_instances."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

from .helpers import Driver, Status

app = durably.App()


@app.activity
def double(value: int) -> int:
    return value * 2


@app.orchestrator
def doubler(context: durably.OrchestrationContext) -> Any:
    context.set_custom_status("doubling")
    return (yield context.call_activity(double, context.get_input()))


@app.orchestrator
def idle(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("never"))


def _ids(page: durably.InstancePage) -> list[str]:
    return [s.instance_id for s in page.instances]


def test_get_status_shows_input_history_and_history_output_on_request(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(doubler, "d", 21)
    driver.run()
    plain = driver.client.get_status("d")
    assert plain is not None
    assert (plain.input_, plain.output, plain.custom_status) == (21, 42, "doubling")
    assert plain.history is None
    hidden = driver.client.get_status("d", show_input=False)
    assert hidden is not None and hidden.input_ is None and hidden.output == 42
    with_history = driver.client.get_status("d", show_history=True)
    assert with_history is not None and with_history.history is not None
    completed = [e for e in with_history.history if e["EventType"] == "TaskCompleted"]
    assert completed and completed[0]["Result"] is None  # outputs are hidden by default
    full = driver.client.get_status("d", show_history=True, show_history_output=True)
    assert full is not None and full.history is not None
    assert [e["Result"] for e in full.history if e["EventType"] == "TaskCompleted"] == [42]
    assert full.history[1]["EventType"] == "ExecutionStarted" and full.history[1]["Input"] == 21
    assert driver.client.get_status("unknown") is None


def test_list_instances_filters_by_status_name_prefix_and_created_time(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(doubler, "batch-a-1", 1)
    driver.client.start_new(idle, "batch-a-2")
    middle = _dt.datetime.now(_dt.UTC)
    time.sleep(0.002)  # created times are microseconds: keep the two groups apart
    driver.client.start_new(doubler, "batch-b-1", 2)
    driver.client.start_new(idle, "other")
    driver.run()
    client = driver.client
    assert _ids(client.list_instances()) == ["batch-a-1", "batch-a-2", "batch-b-1", "other"]
    assert _ids(client.list_instances(runtime_status="Completed")) == ["batch-a-1", "batch-b-1"]
    assert _ids(client.list_instances(runtime_status=[Status.Running])) == ["batch-a-2", "other"]
    assert _ids(client.list_instances(name="idle")) == ["batch-a-2", "other"]
    assert _ids(client.list_instances(instance_id_prefix="batch-a")) == ["batch-a-1", "batch-a-2"]
    assert _ids(client.list_instances(created_time_from=middle)) == ["batch-b-1", "other"]
    assert _ids(client.list_instances(created_time_to=middle)) == ["batch-a-1", "batch-a-2"]
    combined = client.list_instances(
        runtime_status=["Completed", "Failed"], name="doubler", instance_id_prefix="batch-"
    )
    assert _ids(combined) == ["batch-a-1", "batch-b-1"]
    assert combined.continuation_token is None
    statuses = {s.instance_id: s for s in combined.instances}
    assert statuses["batch-b-1"].output == 4 and statuses["batch-b-1"].input_ == 2


def _walk(client: durably.Client, page_size: int, **filters: Any) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        page = client.list_instances(**filters, page_size=page_size, continuation_token=token)
        assert len(page.instances) <= page_size
        seen += _ids(page)
        token = page.continuation_token
        if token is None:
            return seen


def test_paging_visits_every_instance_once_in_creation_order(backend: Backend) -> None:
    client = durably.Client(backend, app=app)
    ids = [client.start_new(idle, f"i-{n:03d}") for n in range(23)]
    for page_size in (1, 5, 7, 23, 100):
        assert _walk(client, page_size) == ids
    assert _walk(client, 4, instance_id_prefix="i-01") == ids[10:20]
    full = client.list_instances(page_size=23)
    assert full.continuation_token is None  # an exactly full last page has no token


def test_paging_is_stable_while_instances_are_created_and_purged(backend: Backend) -> None:
    driver = Driver(app, backend)
    client = driver.client
    ids = [client.start_new(doubler, f"p-{n:02d}", n) for n in range(12)]
    driver.run()
    first = client.list_instances(page_size=5)
    assert _ids(first) == ids[:5]
    client.purge_instance_history(ids[2])  # already seen: must not shift the next page
    client.start_new(doubler, "p-new", 99)  # created later: appears at the end
    second = client.list_instances(page_size=5, continuation_token=first.continuation_token)
    assert _ids(second) == ids[5:10]
    third = client.list_instances(page_size=5, continuation_token=second.continuation_token)
    assert _ids(third) == [*ids[10:], "p-new"]
    assert third.continuation_token is None


def test_get_status_all_and_get_status_by(backend: Backend) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(doubler, "one", 1)
    start = _dt.datetime.now(_dt.UTC)
    time.sleep(0.002)
    driver.client.start_new(idle, "two")
    driver.client.start_new(doubler, "three", 3)
    driver.run()
    everything = driver.client.get_status_all()
    assert [s.instance_id for s in everything] == ["one", "two", "three"]
    by = driver.client.get_status_by(created_time_from=start, runtime_status=[Status.Completed])
    assert [(s.instance_id, s.output) for s in by] == [("three", 6)]
    assert driver.client.get_status_by(created_time_to=start)[0].instance_id == "one"


def test_get_status_all_reads_past_one_page(backend: Backend) -> None:
    client = durably.Client(backend)
    for n in range(1003):
        client.start_new("idle", f"bulk-{n:04d}")
    assert len(client.get_status_all()) == 1003


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_size": 0}, "page_size must be between 1 and 1000"),
        ({"page_size": 1001}, "page_size must be between 1 and 1000"),
        ({"runtime_status": "Sleeping"}, "unknown runtime status 'Sleeping'"),
        ({"continuation_token": "not-a-token"}, "invalid continuation token"),
    ],
)
def test_list_instances_rejects_bad_arguments(
    backend: Backend, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        durably.Client(backend).list_instances(**kwargs)
