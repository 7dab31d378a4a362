"""Every payload is at most max_payload_bytes serialised: a client call refuses a larger
one, and inside a worker the task that produced it fails. Nothing oversized is written."""

from __future__ import annotations

from typing import Any

import pytest

import durably
from durably.backends.base import Backend

LIMIT = 1_000
BIG = "x" * 2_000
app = durably.App(max_payload_bytes=LIMIT)


@app.activity
def echo(value: Any) -> Any:
    return value


@app.activity
def produce_big() -> str:
    return BIG


@app.orchestrator
def careful(context: durably.OrchestrationContext) -> Any:
    outcomes = []
    try:
        yield context.call_activity(produce_big)
    except durably.TaskFailedError as exc:
        outcomes.append(exc.error_type)
    try:
        context.call_activity(echo, BIG)
    except durably.PayloadTooLargeError as exc:
        outcomes.append(exc.what)
    try:
        context.set_custom_status(BIG)
    except durably.PayloadTooLargeError as exc:
        outcomes.append(exc.what)
    outcomes.append((yield context.call_activity(echo, "small")))
    return outcomes


@app.orchestrator
def returns_big(context: durably.OrchestrationContext) -> Any:
    yield context.call_activity(echo, 1)
    return BIG


def _largest_payload(client: durably.Client, instance_id: str) -> int:
    sizes = [0]
    for event in client.get_history(instance_id):
        data = event.to_dict()
        sizes += [len(data[key] or "") for key in ("Input", "Result") if key in data]
    return max(sizes)


def test_a_client_refuses_oversized_payloads_and_writes_nothing(backend: Backend) -> None:
    client = durably.Client(backend, app=app)
    with pytest.raises(durably.PayloadTooLargeError) as caught:
        client.start_new(careful, client_input=BIG)
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, durably.DurablyError)
    assert (error.what, error.size, error.limit) == ("orchestration input", len(BIG) + 2, LIMIT)
    assert "orchestration input is 2,002 bytes serialised, over the limit of 1,000" in str(error)
    assert client.list_instances().instances == []
    instance_id = client.start_new(careful, client_input="ok")
    with pytest.raises(durably.PayloadTooLargeError, match="event data"):
        client.raise_event(instance_id, "go", BIG)
    with pytest.raises(durably.PayloadTooLargeError, match="reason"):
        client.terminate(instance_id, BIG)
    assert len(client.get_history(instance_id)) == 0  # only its start message, unread


def test_the_default_limit_is_2_mib_and_a_client_may_set_its_own(backend: Backend) -> None:
    plain = durably.Client(backend)
    assert plain.max_payload_bytes == 2 * 1024 * 1024
    with pytest.raises(durably.PayloadTooLargeError):
        plain.start_new("anything", client_input="y" * (8 * 1024 * 1024))
    own = durably.Client(backend, max_payload_bytes=10)
    with pytest.raises(durably.PayloadTooLargeError, match="over the limit of 10 bytes"):
        own.start_new("anything", client_input="eleven chars")


def test_inside_a_worker_the_task_that_produced_it_fails(backend: Backend) -> None:
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        ok = client.start_new(careful)
        status = client.wait_for_completion(ok, timeout=20)
        failed = client.start_new(returns_big)
        failure = client.wait_for_completion(failed, timeout=20)
        largest = max(_largest_payload(client, i) for i in (ok, failed))
    assert status.runtime_status == "Completed"
    assert status.output == [
        "PayloadTooLargeError",
        "activity input",
        "custom status",
        "small",
    ]
    assert failure.runtime_status == "Failed"
    assert failure.output.startswith("PayloadTooLargeError: orchestrator output is 2,002 bytes")
    assert largest <= LIMIT


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_a_limit_that_cannot_work_is_refused(limit: Any) -> None:
    with pytest.raises(ValueError, match="max_payload_bytes must be a whole number"):
        durably.App(max_payload_bytes=limit)
    with pytest.raises(ValueError, match="max_payload_bytes"):
        durably.Client("memory://", max_payload_bytes=limit)
