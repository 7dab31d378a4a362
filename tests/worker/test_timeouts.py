"""@app.activity(timeout=...): an attempt that runs longer fails with TimeoutError, retry
options apply, and the worker's other work goes on meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

app = durably.App()
attempts: dict[str, int] = {}
release = threading.Event()


@app.activity(timeout=0.3)
def slow_then_quick(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        release.wait(30)  # hangs until the test ends: its thread is given up
    return f"done after {attempts[key]} attempts"


@app.activity(timeout=0.3)
async def slow_async(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "in time"


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def retried(context: durably.OrchestrationContext) -> Any:
    retry = durably.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=3)
    return (yield context.call_activity_with_retry(slow_then_quick, retry, context.get_input()))


@app.orchestrator
def timed(context: durably.OrchestrationContext) -> Any:
    outcomes = []
    for seconds in (5.0, 0.01):
        try:
            outcomes.append((yield context.call_activity(slow_async, seconds)))
        except durably.TaskFailedError as exc:
            outcomes.append(f"{exc.error_type}: {exc.message}")
    return outcomes


@app.orchestrator
def quick(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(add_one, context.get_input()))


def test_a_timed_out_attempt_fails_and_is_retried(backend: Backend) -> None:
    attempts.clear()
    release.clear()
    try:
        with durably.Worker(app, store=backend, activity_concurrency=2) as worker:
            client = worker.client()
            started = time.monotonic()
            instance_id = client.start_new(retried, client_input="k")
            others = [client.start_new(quick, client_input=n) for n in range(10)]
            status = client.wait_for_completion(instance_id, timeout=20)
            done = [client.wait_for_completion(i, timeout=20).output for i in others]
            elapsed = time.monotonic() - started
    finally:
        release.set()
    assert (status.runtime_status, status.output) == ("Completed", "done after 2 attempts")
    assert done == [n + 1 for n in range(10)]  # the hung thread's slot was given back
    assert elapsed < 10


def test_an_async_attempt_is_cancelled_at_its_timeout(backend: Backend) -> None:
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(timed), timeout=20)
    assert status.output == [
        "TimeoutError: activity 'slow_async' ran longer than 0.3 s",
        "in time",
    ]


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), "soon"])
def test_a_timeout_that_cannot_work_is_refused(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        durably.App().activity(timeout=timeout)(add_one)
