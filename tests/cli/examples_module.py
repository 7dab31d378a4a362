"""The app the CLI tests run: `durably worker examples_module:app` (copied next to the store)."""

from __future__ import annotations

import time
from typing import Any

import durably

app = durably.App()


@app.activity
def greet(name: str) -> str:
    return f"Hello {name}!"


@app.activity
def slow_square(value: int) -> int:
    time.sleep(0.1)
    return value * value


@app.activity
def explode(message: str) -> None:
    raise RuntimeError(message)


@app.orchestrator
def hello(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(greet, context.get_input()))


@app.orchestrator
def approval(context: durably.OrchestrationContext) -> Any:
    greeting = yield context.call_activity(greet, context.get_input())
    decision = yield context.wait_for_external_event("Approved")
    return [greeting, decision]


@app.orchestrator
def broken(context: durably.OrchestrationContext) -> Any:
    yield context.call_activity(explode, context.get_input())


@app.orchestrator
def squares(context: durably.OrchestrationContext) -> Any:
    """A chain, then a fan-out: several episodes and activities per instance."""
    n = context.get_input()
    total = 0
    for step in range(3):
        total += yield context.call_activity(slow_square, n + step)
    fanned = yield context.task_all([context.call_activity(slow_square, k) for k in range(3)])
    return total + sum(fanned)


def expected_squares(n: int) -> int:
    return sum((n + step) ** 2 for step in range(3)) + sum(k * k for k in range(3))
