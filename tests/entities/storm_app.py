"""A signal storm for kill -9 tests: orchestrations send numbered operations to a few
entities in steps, each entity records what it received by sender. Run as a worker
process: ``python -m tests.entities.storm_app STORE``."""

from __future__ import annotations

import sys
import time
from typing import Any

import durably
from durably import EntityContext, EntityId

app = durably.App()
KEYS = 3
STEPS, PER_STEP = 4, 10


@app.entity
def tally(ctx: EntityContext) -> None:
    received: dict[str, list[int]] = ctx.get_state(dict)
    sender, seq = ctx.get_input()
    received.setdefault(sender, []).append(seq)
    ctx.set_state(received)


@app.activity
def pause(x: int) -> int:
    time.sleep(0.15)  # storms last long enough for the kills to land in them
    return x


@app.orchestrator
def storm(context: durably.OrchestrationContext) -> Any:
    seq = 0
    for step in range(STEPS):
        for _ in range(PER_STEP):
            key = str(seq % KEYS)
            context.signal_entity(EntityId("tally", key), "record", [context.instance_id, seq])
            seq += 1
        yield context.call_activity(pause, step)  # the next step is another episode
    return seq


def expected(instance_ids: list[str]) -> dict[str, dict[str, list[int]]]:
    """What each tally must hold once every storm has finished: each sender's numbers,
    once each, in the order sent."""
    total = STEPS * PER_STEP
    return {
        str(key): {i: [s for s in range(total) if s % KEYS == key] for i in instance_ids}
        for key in range(KEYS)
    }


if __name__ == "__main__":
    worker = durably.Worker(app, store=sys.argv[1], lease_seconds=1.5, activity_concurrency=4)
    print("worker ready", flush=True)
    worker.run_forever()
