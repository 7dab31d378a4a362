"""Retries and error handling: retry a flaky activity, compensate when a step fails for good.

Run: python -m examples.retries_and_errors
"""

from __future__ import annotations

from typing import Any

import durably

app = durably.App()
_attempts: dict[str, int] = {}
"""Payment attempts per order: the simulated gateway accepts the third."""


@app.activity
def charge_card(order: str) -> str:
    _attempts[order] = _attempts.get(order, 0) + 1
    if _attempts[order] < 3:
        raise ConnectionError(f"payment gateway timeout (attempt {_attempts[order]})")
    return f"{order} charged after {_attempts[order]} attempts"


@app.activity
def ship(order: str) -> str:
    raise RuntimeError(f"no courier available for {order}")


@app.activity
def refund(order: str) -> str:
    return f"{order} refunded"


@app.orchestrator
def place_order(context: durably.OrchestrationContext) -> Any:
    order = context.get_input()
    retry = durably.RetryOptions(
        first_retry_interval_in_milliseconds=50, max_number_of_attempts=5, backoff_coefficient=2.0
    )
    charged = yield context.call_activity_with_retry(charge_card, retry, order)
    try:
        shipped = yield context.call_activity(ship, order)
    except durably.TaskFailedError as error:
        refunded = yield context.call_activity(refund, order)
        return {"charged": charged, "shipping_error": str(error), "compensation": refunded}
    return {"charged": charged, "shipped": shipped}


def main(store: str = "sqlite:///examples.db") -> Any:
    _attempts.clear()  # every run meets a gateway that times out twice
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(place_order, client_input="order-42")
        status = client.wait_for_completion(instance_id, timeout=30)
        print(status.runtime_status, status.output)
        return status.output


if __name__ == "__main__":
    main()
