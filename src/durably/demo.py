"""`durably demo`: an order-fulfilment app run on a real store, with progress and results.

Each order is an orchestration that checks stock for every line item in parallel
(fan-out/fan-in), charges the card through a flaky gateway (retries on durable timers),
ships through a sub-orchestration (a chain of activities), and waits for the customer's
confirmation event, falling back to a timer when none arrives.
"""

from __future__ import annotations

import datetime as _dt
import time
import zlib
from typing import Any

from durably.app import App
from durably.backends import store_url
from durably.engine.context import OrchestrationContext
from durably.engine.retry import RetryOptions
from durably.history import OrchestrationRuntimeStatus

app = App()

_RETRY = RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=4)
_gateway_calls: dict[str, int] = {}


@app.activity
def check_stock(item: dict[str, Any]) -> int:
    return int(item["quantity"])


@app.activity
def charge_card(order: dict[str, Any]) -> str:
    # Every third order's first charge attempt times out: the retry policy absorbs it.
    calls = _gateway_calls[order["id"]] = _gateway_calls.get(order["id"], 0) + 1
    if calls == 1 and zlib.crc32(order["id"].encode()) % 3 == 0:
        raise ConnectionError("payment gateway timed out")
    return f"charged {order['total']:.2f}"


@app.activity
def pack(order_id: str) -> str:
    return f"{order_id} packed"


@app.activity
def label(order_id: str) -> str:
    return f"{order_id} labelled"


@app.orchestrator
def ship_order(context: OrchestrationContext) -> Any:
    order_id = context.get_input()
    packed = yield context.call_activity(pack, order_id)
    labelled = yield context.call_activity(label, order_id)
    return [packed, labelled]


@app.orchestrator
def fulfil_order(context: OrchestrationContext) -> Any:
    order = context.get_input()
    counts = yield context.task_all([context.call_activity(check_stock, i) for i in order["items"]])
    context.set_custom_status({"stage": "charging", "units": sum(counts)})
    receipt = yield context.call_activity_with_retry(charge_card, _RETRY, order)
    shipment = yield context.call_sub_orchestrator(ship_order, order["id"])
    context.set_custom_status({"stage": "awaiting confirmation"})
    confirmation = context.wait_for_external_event("Confirmed")
    timeout = context.create_timer(context.current_utc_datetime + _dt.timedelta(milliseconds=300))
    winner = yield context.task_any([confirmation, timeout])
    confirmed = winner is confirmation
    if confirmed:
        timeout.cancel()
    return {"units": sum(counts), "receipt": receipt, "shipment": shipment, "confirmed": confirmed}


def make_orders(count: int, run: str) -> list[dict[str, Any]]:
    orders = []
    for n in range(count):
        items = [{"sku": f"sku-{n}-{k}", "quantity": 1 + (n + k) % 3} for k in range(2 + n % 4)]
        orders.append({"id": f"order-{run}-{n:03d}", "items": items, "total": 10.0 + n})
    return orders


def run(store: str | None, count: int = 40) -> int:
    """Run the demo; returns a process exit code."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from durably.worker.worker import Worker

    console = Console()
    run_id = time.strftime("%H%M%S")
    orders = make_orders(count, run_id)
    started = time.perf_counter()
    with Worker(app, store=store) as worker:
        client = worker.client()
        console.print(f"[bold]durably demo[/]: {count} orders on {store_url(store)}")
        console.print(
            "[dim]The payment gateway fails now and then on purpose: each failure is logged"
            " below and retried by the orders' RetryOptions.[/]"
        )
        ids = [client.start_new(fulfil_order, o["id"], o) for o in orders]
        for instance_id in ids[::2]:  # half the customers confirm; the others time out
            client.raise_event(instance_id, "Confirmed", True)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
        statuses = []
        with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("orchestrations", total=len(ids))
            for instance_id in ids:
                statuses.append(client.wait_for_completion(instance_id, timeout=120))
                progress.advance(task)
        events = sum(len(client.get_history(i)) for i in ids)
    elapsed = time.perf_counter() - started

    table = Table(title="orders")
    for column in ("instance", "status", "units", "receipt", "confirmed"):
        table.add_column(column)
    for status in statuses[:10]:
        out = status.output if isinstance(status.output, dict) else {}
        table.add_row(
            status.instance_id,
            str(status.runtime_status),
            str(out.get("units", "")),
            str(out.get("receipt", status.output)),
            str(out.get("confirmed", "")),
        )
    if len(statuses) > 10:
        table.add_row(f"... {len(statuses) - 10} more", "", "", "", "")
    console.print(table)
    completed = sum(s.runtime_status is OrchestrationRuntimeStatus.Completed for s in statuses)
    summary = Table(title="summary", show_header=False)
    summary.add_row("orchestrations completed", f"{completed} / {len(statuses)}")
    summary.add_row("history events written", str(events))
    summary.add_row("wall time", f"{elapsed:.2f} s")
    summary.add_row("orchestrations per second", f"{len(statuses) / elapsed:.1f}")
    console.print(summary)
    return 0 if completed == len(statuses) else 1
