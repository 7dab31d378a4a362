"""Whatever user code raises, SystemExit included, ends in a recorded failure: never a
redelivery loop, never a silently frozen instance."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

app = durably.App()
calls: list[str] = []


@app.activity
def leave(code: int) -> None:
    calls.append("leave")
    sys.exit(code)


@app.activity
async def leave_async(code: int) -> None:
    calls.append("leave_async")
    sys.exit(code)


@app.orchestrator
def catches(context: durably.OrchestrationContext) -> Any:
    caught = []
    for name in ("leave", "leave_async"):
        try:
            yield context.call_activity(name, 3)
        except durably.TaskFailedError as exc:
            caught.append(exc.error_type)
    return caught


@app.orchestrator
def exits(context: durably.OrchestrationContext) -> Any:
    yield context.create_timer(context.current_utc_datetime)
    sys.exit("the orchestrator quit")


@app.orchestrator
def exits_at_once(context: durably.OrchestrationContext) -> Any:
    raise SystemExit(2)


def test_an_activity_that_exits_fails_its_task_once(backend: Backend) -> None:
    calls.clear()
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        instance_id = client.start_new(catches)
        status = client.wait_for_completion(instance_id, timeout=20)
    assert (status.runtime_status, status.output) == ("Completed", ["SystemExit", "SystemExit"])
    assert calls == ["leave", "leave_async"]  # each ran once: no redelivery


def test_an_orchestrator_that_exits_is_failed_and_the_others_go_on(backend: Backend) -> None:
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        ids = [client.start_new(exits), client.start_new(exits_at_once)]
        healthy = client.start_new(catches)
        statuses = [client.wait_for_completion(i, timeout=20) for i in ids]
        assert client.wait_for_completion(healthy, timeout=20).runtime_status == "Completed"
    assert [s.runtime_status for s in statuses] == ["Failed", "Failed"]
    assert statuses[0].output.startswith("SystemExit: the orchestrator quit")
    assert statuses[1].output.startswith("SystemExit: 2")


def test_failures_are_logged_and_episodes_at_debug_level(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="durably.worker")
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new(catches), timeout=20)
        failed = client.start_new(exits_at_once)
        client.wait_for_completion(failed, timeout=20)
    messages = [r.getMessage() for r in caplog.records if r.name == "durably.worker"]
    assert any(m.startswith("activity leave of ") and "SystemExit: 3" in m for m in messages)
    assert f"orchestration exits_at_once ({failed}) failed: SystemExit: 2" in messages
    assert any(m.startswith(f"episode of exits_at_once ({failed})") for m in messages)
