"""An app whose code kills its worker process: ``python -m tests.durability.poison_app
STORE INSTANCE`` runs a worker on STORE until the process dies or INSTANCE finishes."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import durably

app = durably.App()


@app.activity(max_dequeue_count=3)
def crash(value: int) -> int:
    os._exit(9)  # the worker process dies with the work in hand


@app.activity
def add_one(value: int) -> int:
    return value + 1


@app.orchestrator
def victim(context: durably.OrchestrationContext) -> Any:
    try:
        yield context.call_activity(crash, 1)
    except durably.TaskFailedError as exc:
        return {"error_type": exc.error_type, "message": exc.message}
    return "crash returned"


@app.orchestrator
def killer(context: durably.OrchestrationContext) -> Any:
    os._exit(9)  # the orchestrator's own code kills its worker, at every episode
    yield context.call_activity(add_one, 1)


@app.orchestrator
def bystander(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()
    for _ in range(3):
        x = yield context.call_activity(add_one, x)
    return x


def main(store: str, watched: str) -> None:
    with durably.Worker(app, store=store, lease_seconds=0.5, poll_interval=0.05) as worker:
        print("worker ready", flush=True)
        client = worker.client()
        while True:
            status = client.get_status(watched)
            if status is not None and status.runtime_status.is_terminal:
                return
            time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
