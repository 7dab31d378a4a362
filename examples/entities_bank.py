"""Durable entities: a counter many orchestrations add to, and accounts that transfers
move money between inside a critical section.

Run: python -m examples.entities_bank
"""

from __future__ import annotations

import time
from typing import Any

import durably
from durably import EntityContext, EntityId

app = durably.App()


@app.entity
def counter(ctx: EntityContext) -> None:
    """Function-based: the state is a number; ``add`` and ``get``."""
    value: int = ctx.get_state(lambda: 0)
    if ctx.operation_name == "add":
        value += ctx.get_input(int)
        ctx.set_state(value)
    ctx.set_result(value)


@app.entity
class Account:
    """Class-based: the public methods are the operations, the attributes the state."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError(f"balance {self.balance} is less than {amount}")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


@app.orchestrator
def count_visits(context: durably.OrchestrationContext) -> Any:
    """Signal the counter (no waiting), then read it."""
    visits = EntityId("counter", "visits")
    for _ in range(context.get_input()):
        context.signal_entity(visits, "add", 1)
    return (yield context.call_entity(visits, "get"))


@app.orchestrator
def transfer(context: durably.OrchestrationContext) -> Any:
    """Move money between two accounts: with both locked, no other orchestration's
    operation runs on either between the check and the two updates."""
    source, target, amount = context.get_input()
    a, b = EntityId("account", source), EntityId("account", target)
    with (yield context.lock([a, b])):
        if (yield context.call_entity(a, "get")) < amount:
            return f"{source} cannot pay {amount}"
        yield context.call_entity(a, "withdraw", amount)
        yield context.call_entity(b, "deposit", amount)
    return f"{source} paid {target} {amount}"


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        visits = client.wait_for_completion(client.start_new("count_visits", None, 10), 30)
        client.signal_entity(EntityId("account", "ana"), "deposit", 100)
        client.signal_entity(EntityId("account", "bob"), "deposit", 20)
        while not client.read_entity_state(EntityId("account", "bob")).entity_exists:
            time.sleep(0.01)
        moves = [["ana", "bob", 30], ["bob", "ana", 80], ["bob", "ana", 5]]
        ids = [client.start_new("transfer", None, move) for move in moves]
        outcomes = [client.wait_for_completion(i, timeout=30).output for i in ids]
        balances = {
            name: client.read_entity_state(EntityId("account", name)).entity_state["balance"]
            for name in ("ana", "bob")
        }
        result = {"visits": visits.output, "transfers": outcomes, "balances": balances}
        print(result)
        return result


if __name__ == "__main__":
    main()
