"""The chaos workload's orchestrators and activities, and its worker process.

Run as a worker: ``python -m tests.chaos.app STORE_URL``. Leases are short so that work
held by a killed or paused process is taken over within seconds. Every orchestrator's
output follows from its input alone (:mod:`tests.chaos.workload` computes it), whatever
crashed meanwhile.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import durably

app = durably.App()

LEASE_SECONDS = 2.0
RETRY = durably.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=4)


@app.activity
def add(pair: list[int]) -> int:
    time.sleep(random.random() * 0.004)  # a little I/O-like work, for kills to land in
    return pair[0] + pair[1]


@app.activity
def flaky(arg: dict[str, Any]) -> int:
    """Fails its first attempt (the marker file remembers it), succeeds after."""
    marker = Path(arg["marker"])
    if not marker.exists():
        marker.touch()
        raise RuntimeError("flaky: the first attempt fails")
    return int(arg["value"]) * 2


@app.activity
def broken(arg: dict[str, Any]) -> int:
    """Fails until the chaos driver creates the marker file ("the fix"), then rewinds."""
    if not Path(arg["marker"]).exists():
        raise RuntimeError("broken: not fixed yet")
    return int(arg["value"]) * 3


@app.orchestrator
def chain(context: durably.OrchestrationContext) -> Any:
    arg = context.get_input()
    x = arg["x"]
    for _ in range(arg["n"]):
        x = yield context.call_activity(add, [x, 1])
    return x


@app.orchestrator
def fan(context: durably.OrchestrationContext) -> Any:
    n = context.get_input()["n"]
    results = yield context.task_all([context.call_activity(add, [i, i]) for i in range(n)])
    return sum(results)


@app.orchestrator
def timer(context: durably.OrchestrationContext) -> Any:
    arg = context.get_input()
    yield context.create_timer(_dt.timedelta(seconds=arg["seconds"]))
    return (yield context.call_activity(add, [arg["x"], 1]))


@app.orchestrator
def approval(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()["x"]
    approved = yield context.wait_for_external_event("approve")
    return (yield context.call_activity(add, [x, approved]))


@app.orchestrator
def race(context: durably.OrchestrationContext) -> Any:
    """An event nobody raises against a short timer: the timer wins."""
    never = context.wait_for_external_event("never")
    deadline = context.create_timer(_dt.timedelta(seconds=context.get_input()["seconds"]))
    winner = yield context.task_any([never, deadline])
    return "event" if winner is never else "timeout"


@app.orchestrator
def suspendable(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()["x"]
    a = yield context.call_activity(add, [x, 1])
    go = yield context.wait_for_external_event("go")
    return (yield context.call_activity(add, [a, go]))


@app.orchestrator
def parent(context: durably.OrchestrationContext) -> Any:
    arg = context.get_input()
    children = [
        context.call_sub_orchestrator(
            chain, {"n": 2, "x": arg["x"] + i}, instance_id=f"{context.instance_id}.c{i}"
        )
        for i in range(arg["k"])
    ]
    return sum((yield context.task_all(children)))


@app.orchestrator
def retried(context: durably.OrchestrationContext) -> Any:
    arg = context.get_input()
    return (yield context.call_activity_with_retry(flaky, RETRY, arg))


@app.orchestrator
def counter(context: durably.OrchestrationContext) -> Any:
    """Continues as new ``total`` times, adding the generation number each time."""
    arg = context.get_input()
    acc = yield context.call_activity(add, [arg["acc"], arg["gen"]])
    if arg["gen"] + 1 < arg["total"]:
        context.continue_as_new({"gen": arg["gen"] + 1, "total": arg["total"], "acc": acc})
        return None
    return acc


@app.orchestrator
def sleeper(context: durably.OrchestrationContext) -> Any:
    yield context.wait_for_external_event("never")
    return "woke up"


@app.orchestrator
def doomed(context: durably.OrchestrationContext) -> Any:
    """Waits for ever, with a child that waits for ever: the driver terminates both."""
    child = context.call_sub_orchestrator(sleeper, None, f"{context.instance_id}.sleeper")
    yield context.task_all([child, context.wait_for_external_event("never")])
    return "not terminated"


@app.orchestrator
def rewound(context: durably.OrchestrationContext) -> Any:
    arg = context.get_input()
    a = yield context.call_activity(add, [arg["value"], 1])
    b = yield context.call_activity(broken, arg)
    return a + b


def main(store: str) -> None:
    worker = durably.Worker(app, store=store, lease_seconds=LEASE_SECONDS, activity_concurrency=16)
    print(f"worker {os.getpid()} ready", flush=True)
    worker.run_forever(stop_timeout=10.0)


if __name__ == "__main__":
    main(sys.argv[1])
