"""A worker runs async def activities, and a stopped worker started again goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import durably
from durably.backends.base import Backend

app = durably.App()


@app.activity
async def double(value: int) -> int:
    await asyncio.sleep(0.001)
    return value * 2


@app.activity
def add_one(value: int) -> int:
    return value + 1


@app.orchestrator
def mixed(context: durably.OrchestrationContext) -> Any:
    doubled = yield context.call_activity(double, context.get_input())
    return (yield context.call_activity(add_one, doubled))


def test_async_activities_run_again_after_a_restart(backend: Backend) -> None:
    worker = durably.Worker(app, store=backend)
    for value in (1, 2):
        with worker:
            client = worker.client()
            instance_id = client.start_new(mixed, client_input=value)
            status = client.wait_for_completion(instance_id, timeout=30)
            assert (status.runtime_status, status.output) == ("Completed", value * 2 + 1)
