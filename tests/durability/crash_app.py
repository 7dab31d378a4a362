"""A workload for crash tests: chains and fan-outs whose activities take a little time.

Run as a worker process: python -m tests.durability.crash_app STORE_URL
"""

from __future__ import annotations

import sys
import time
from typing import Any

import durably

app = durably.App()


@app.activity
def slow_add(x: int) -> int:
    time.sleep(0.03)
    return x + 1


@app.orchestrator
def chain(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()
    for _ in range(8):
        x = yield context.call_activity(slow_add, x)
    return x


@app.orchestrator
async def async_chain(context: durably.OrchestrationContext) -> Any:
    """``chain`` as an ``async def`` orchestrator: the same crash guarantees."""
    x = context.get_input()
    for _ in range(8):
        x = await context.call_activity(slow_add, x)
    return x


@app.orchestrator
def fan_out(context: durably.OrchestrationContext) -> Any:
    n = context.get_input()
    results = yield context.task_all([context.call_activity(slow_add, i) for i in range(n)])
    total = yield context.call_activity(slow_add, sum(results))
    return total


def expected(name: str, value: int) -> int:
    if name in ("chain", "async_chain"):
        return value + 8
    return sum(range(1, value + 1)) + 1


if __name__ == "__main__":
    worker = durably.Worker(app, store=sys.argv[1], lease_seconds=1.5, activity_concurrency=4)
    print("worker ready", flush=True)
    worker.run_forever()
