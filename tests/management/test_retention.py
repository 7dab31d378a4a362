"""The worker's retention setting purges finished instances older than N days."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

from .helpers import Driver, Status

app = durably.App()


@app.orchestrator
def quick(context: durably.OrchestrationContext) -> Any:
    return context.get_input()
    yield  # a generator


@app.orchestrator
def idle(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("never"))


def test_purge_expired_deletes_only_finished_instances_older_than_the_retention(
    backend: Backend,
) -> None:
    driver = Driver(app, backend)
    driver.client.start_new(quick, "done", 1)
    driver.client.start_new(idle, "waiting")
    driver.client.start_new(idle, "stopped")
    driver.client.terminate("stopped")
    driver.run()
    worker = durably.Worker(app, store=backend, retention_days=2)
    now = _dt.datetime.now(_dt.UTC)
    assert worker.purge_expired(now + _dt.timedelta(days=1)) == 0  # not old enough yet
    assert worker.purge_expired(now + _dt.timedelta(days=3)) == 2
    assert [s.instance_id for s in driver.client.get_status_all()] == ["waiting"]
    assert durably.Worker(app, store=backend).purge_expired(now + _dt.timedelta(days=99)) == 0


def test_a_running_worker_applies_its_retention_periodically(backend: Backend) -> None:
    settings: dict[str, Any] = {"retention_days": 0, "retention_check_interval": 0.05}
    with durably.Worker(app, store=backend, poll_interval=0.02, **settings) as worker:
        client = worker.client()
        client.start_new(idle, "waiting")
        client.start_new(quick, "done", 1)
        deadline = time.monotonic() + 30
        while client.get_status("done") is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get_status("done") is None
        waiting = client.get_status("waiting")
        assert waiting is not None and waiting.runtime_status in (Status.Pending, Status.Running)


def test_retention_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="retention_days must not be negative"):
        durably.Worker(app, store="memory://", retention_days=-1)
