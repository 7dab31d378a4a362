"""What type checkers see of awaited tasks (checked by mypy in tests/test_typing.py)."""

from __future__ import annotations

import decimal
from typing import Any, assert_type

import durably

app = durably.App()


@app.activity
def total(order: dict[str, int]) -> decimal.Decimal:
    return decimal.Decimal(sum(order.values()))


@app.activity
async def fetch(url: str) -> bytes:
    return url.encode()


@app.orchestrator
async def flow(context: durably.OrchestrationContext) -> Any:
    amount = await context.call_activity(total, {"a": 1})
    assert_type(amount, decimal.Decimal)
    body = await context.call_activity(fetch, "x")
    assert_type(body, bytes)
    named = await context.call_activity("total", {}, return_type=decimal.Decimal)
    assert_type(named, decimal.Decimal)
    both = await context.task_all([context.call_activity(total, {}) for _ in range(2)])
    assert_type(both, list[decimal.Decimal])
    loose = await context.call_activity("total", {})
    assert_type(loose, Any)
    return amount
