"""@app.activity(isolation="process"): each attempt runs in a child process, so a crash or
a timeout there fails only that task, and the worker goes on."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

import durably

app = durably.App()
pytestmark = pytest.mark.timeout(120)


@app.activity(isolation="process")
def crash(code: int) -> None:
    os._exit(code)


@app.activity(isolation="process")
def square_in_a_child(value: int) -> dict[str, int]:
    return {"square": value * value, "pid": os.getpid()}


@app.activity(isolation="process", timeout=0.5)
def hang() -> None:
    time.sleep(60)


@app.activity(isolation="process")
def refuse(reason: str) -> None:
    raise ValueError(reason)


@app.activity(isolation="process")
async def async_in_a_child(value: int) -> int:
    await asyncio.sleep(0.01)
    return value + 1


@app.orchestrator
def tries_everything(context: durably.OrchestrationContext) -> Any:
    outcomes: list[Any] = []
    for name, arg in (("crash", 7), ("hang", None), ("refuse", "no")):
        try:
            yield context.call_activity(name, arg)
            outcomes.append("returned")
        except durably.TaskFailedError as exc:
            outcomes.append(f"{exc.error_type}: {exc.message}")
    outcomes.append((yield context.call_activity(square_in_a_child, 12)))
    outcomes.append((yield context.call_activity(async_in_a_child, 41)))
    return outcomes


def test_crashes_timeouts_and_errors_stay_in_their_child(tmp_path: Any) -> None:
    with durably.Worker(app, store=f"sqlite:///{tmp_path / 'iso.db'}") as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(tries_everything), timeout=60)
    crashed, hung, refused, squared, incremented = status.output
    assert crashed == (
        "ChildProcessError: the process running activity 'crash' ended with exit code 7 "
        "before reporting back"
    )
    assert hung == "TimeoutError: activity 'hang' ran longer than 0.5 s (its process was killed)"
    assert refused == "ValueError: no"
    assert squared["square"] == 144 and squared["pid"] != os.getpid()
    assert incremented == 42


def test_an_isolation_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match='isolation must be "thread" or "process"'):
        durably.App().activity(isolation="container")(crash)
