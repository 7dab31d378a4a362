"""The client as a user sees it: ids, duplicates, inputs, statuses and waiting."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

app = durably.App()


@app.activity
def echo(value: Any) -> Any:
    return value


@app.orchestrator
def echo_input(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(echo, context.get_input()))


@app.orchestrator
def wait_for_go(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("go"))


@dataclasses.dataclass
class Order:
    id: int
    placed: dt.date


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(
    ("bad_id", "rule"),
    [
        ("", "1 to 256 characters"),
        ("x" * 257, "1 to 256 characters"),
        ("@entity", "must not start with '@'"),
        ("a/b", "must not contain"),
        ("a\\b", "must not contain"),
        ("a#b", "must not contain"),
        ("a?b", "must not contain"),
        ("a\nb", "control characters"),
    ],
)
def test_a_bad_instance_id_is_refused_naming_the_rule(bad_id: str, rule: str) -> None:
    client = durably.Client("memory://", app=app)
    with pytest.raises(ValueError, match=rule):
        client.start_new(echo_input, instance_id=bad_id)


def test_default_ids_are_random_hex(backend: Backend) -> None:
    client = durably.Client(backend, app=app)
    first, second = client.start_new(echo_input), client.start_new(echo_input)
    assert first != second and len(first) == 32 and int(first, 16) >= 0


def test_an_app_aware_client_refuses_an_unknown_orchestrator() -> None:
    client = durably.Client("memory://", app=app)
    with pytest.raises(ValueError, match="known orchestrators: echo_input, wait_for_go"):
        client.start_new("nope")


def test_a_bare_client_creates_the_instance_and_the_worker_fails_it(backend: Backend) -> None:
    instance_id = durably.Client(backend).start_new("nope")
    with durably.Worker(app, backend) as worker:
        status = worker.client().wait_for_completion(instance_id, timeout=10)
    assert status.runtime_status == "Failed"
    assert "no orchestrator named 'nope'" in status.output


def test_an_input_that_is_not_json_is_refused_at_the_call() -> None:
    client = durably.Client("memory://", app=app)
    with pytest.raises(TypeError, match="orchestration input is not JSON-serialisable"):
        client.start_new(echo_input, client_input=object())
    with pytest.raises(TypeError, match="event data is not JSON-serialisable"):
        client.raise_event(client.start_new(wait_for_go), "go", {1, object()})


def test_common_python_types_travel_as_json(backend: Backend) -> None:
    value = {
        "order": Order(7, dt.date(2026, 1, 2)),
        "colour": Colour.RED,
        "key": uuid.UUID(int=1),
        "pair": (1, 2),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    }
    with durably.Worker(app, backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(echo_input, client_input=value), 10)
    assert status.output == {
        "order": {"id": 7, "placed": "2026-01-02"},
        "colour": "red",
        "key": "00000000-0000-0000-0000-000000000001",
        "pair": [1, 2],
        "at": "2026-01-02T03:04:05+00:00",
    }


def test_starting_a_running_id_raises_and_a_finished_one_is_replaced(backend: Backend) -> None:
    with durably.Worker(app, backend) as worker:
        client = worker.client()
        client.start_new(wait_for_go, instance_id="order-1")
        with pytest.raises(durably.InstanceExistsError, match="order-1"):
            client.start_new(wait_for_go, instance_id="order-1")
        client.raise_event("order-1", "go", "first")
        assert client.wait_for_completion("order-1", timeout=10).output == "first"
        client.start_new(echo_input, instance_id="order-1", client_input="second")
        status = client.wait_for_completion("order-1", timeout=10)
    assert (status.name, status.output) == ("echo_input", "second")


def test_unknown_instances(backend: Backend) -> None:
    client = durably.Client(backend, app=app)
    assert client.get_status("missing") is None
    with pytest.raises(durably.InstanceNotFoundError):
        client.wait_for_completion("missing", timeout=1)
    with pytest.raises(durably.InstanceNotFoundError):
        client.raise_event("missing", "go")
    with pytest.raises(durably.InstanceNotFoundError):
        client.get_history("missing")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_status(42),
        lambda c: c.get_history(42),
        lambda c: c.wait_for_completion(None, timeout=1),
        lambda c: c.raise_event(4.2, "go"),
        lambda c: c.terminate(b"bytes"),
        lambda c: c.purge_instance_history(["a"]),
    ],
    ids=["get_status", "get_history", "wait", "raise_event", "terminate", "purge"],
)
def test_an_instance_id_that_is_not_a_string_is_a_type_error(backend: Backend, call: Any) -> None:
    client = durably.Client(backend, app=app)
    with pytest.raises(TypeError, match="instance_id must be a string, got "):
        call(client)


def test_wait_for_completion_times_out_with_the_current_status(backend: Backend) -> None:
    with durably.Worker(app, backend) as worker:
        client = worker.client()
        instance_id = client.start_new(wait_for_go)
        with pytest.raises(TimeoutError, match="still"):
            client.wait_for_completion(instance_id, timeout=0.2)


def test_an_event_raised_before_anyone_waits_is_kept(backend: Backend) -> None:
    client = durably.Client(backend, app=app)
    instance_id = client.start_new(wait_for_go)
    client.raise_event(instance_id, "GO", {"early": True})
    with durably.Worker(app, backend) as worker:
        status = worker.client().wait_for_completion(instance_id, timeout=10)
    assert status.output == {"early": True}


def test_status_and_history_shapes(backend: Backend) -> None:
    with durably.Worker(app, backend) as worker:
        client = worker.client()
        instance_id = client.start_new(echo_input, client_input=41)
        client.wait_for_completion(instance_id, timeout=10)
        status = client.get_status(instance_id, show_history=True, show_history_output=True)
    assert status is not None
    body = status.to_json()
    assert body["runtimeStatus"] == "Completed" and body["input"] == 41 and body["output"] == 41
    kinds = [event["EventType"] for event in body["historyEvents"]]
    assert kinds[:4] == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "TaskScheduled",
        "OrchestratorCompleted",
    ]
    assert kinds[-1] == "ExecutionCompleted"
    completed = next(e for e in body["historyEvents"] if e["EventType"] == "TaskCompleted")
    assert completed["Result"] == 41 and completed["TaskScheduledId"] == 0
