"""Eternal orchestration: a loop that never grows its history, thanks to continue_as_new.

Run: python -m examples.eternal
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import durably

app = durably.App()


@app.activity
def clean_up(round_number: int) -> int:
    return round_number


@app.orchestrator
def periodic_cleanup(context: durably.OrchestrationContext) -> Any:
    state = context.get_input() or {"round": 0, "stop_after": 5}
    yield context.call_activity(clean_up, state["round"])
    if state["round"] + 1 >= state["stop_after"]:
        return f"stopped after {state['round'] + 1} rounds"
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(milliseconds=50))
    context.continue_as_new({**state, "round": state["round"] + 1})
    return None


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(periodic_cleanup)
        status = client.wait_for_completion(instance_id, timeout=30)
        events = len(client.get_history(instance_id))
        print(status.runtime_status, status.output, f"({events} events in the last history)")
        return status.output


if __name__ == "__main__":
    main()
