"""Episodes that replay from the store see every earlier commit, even one that is still
being made durable in the same group commit (SQLite runs several threads' writes in one
transaction; a replay inside it must read through that transaction)."""

from __future__ import annotations

from typing import Any

import durably
from durably.backends.base import Backend

app = durably.App()


@app.activity
def pack(order: str) -> str:
    return f"{order} packed"


@app.activity
def charge(order: str) -> str:
    return f"{order} charged"


@app.orchestrator
def ship(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(pack, context.get_input()))


@app.orchestrator
def fulfil(context: durably.OrchestrationContext) -> Any:
    order = context.get_input()
    shipped = yield context.call_sub_orchestrator(ship, order, instance_id=f"{order}-ship")
    approved = yield context.wait_for_external_event("Approved")
    receipt = yield context.call_activity(charge, order)
    return [shipped, approved, receipt]


def test_orchestrations_replayed_every_episode_lose_no_event(backend: Backend) -> None:
    # cache_size=0: every episode replays its history from the store.
    with durably.Worker(app, backend, cache_size=0) as worker:
        client = worker.client()
        orders = [f"order-{n}" for n in range(40)]
        for order in orders:
            client.start_new(fulfil, order, order)
            client.raise_event(order, "Approved", f"{order} ok")
        outputs = [client.wait_for_completion(order, timeout=60).output for order in orders]
    assert outputs == [[f"{o} packed", f"{o} ok", f"{o} charged"] for o in orders]
