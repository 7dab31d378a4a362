"""The scale-out workload: chains and fan-outs whose activities say which process ran them.

Run as a worker process: ``python -m tests.scaleout.app STORE_URL``. Leases are short so
that work held by a killed process is taken over within seconds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import durably

app = durably.App()

CHAIN_LENGTH = 5
LEASE_SECONDS = 3.0


@app.activity
def add_one(x: int) -> dict[str, int]:
    time.sleep(0.002)  # a little I/O-like work
    return {"value": x + 1, "pid": os.getpid()}


@app.orchestrator
def chain(context: durably.OrchestrationContext) -> Any:
    x, pids = context.get_input(), set()
    for _ in range(CHAIN_LENGTH):
        result = yield context.call_activity(add_one, x)
        x = result["value"]
        pids.add(result["pid"])
    return {"value": x, "pids": sorted(pids)}


@app.orchestrator
def fan_out(context: durably.OrchestrationContext) -> Any:
    n = context.get_input()
    results = yield context.task_all([context.call_activity(add_one, i) for i in range(n)])
    total = yield context.call_activity(add_one, sum(r["value"] for r in results))
    pids = {r["pid"] for r in results} | {total["pid"]}
    return {"value": total["value"], "pids": sorted(pids)}


def expected(name: str, value: int) -> int:
    """The output value of ``name`` started with ``value``."""
    return value + CHAIN_LENGTH if name == "chain" else sum(range(1, value + 1)) + 1


if __name__ == "__main__":
    worker = durably.Worker(
        app, store=sys.argv[1], lease_seconds=LEASE_SECONDS, activity_concurrency=8
    )
    print("worker ready", flush=True)
    worker.run_forever()
