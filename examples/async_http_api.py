"""Async HTTP API pattern: start long work, hand back an id, poll its status.

A caller (here: the main function; over HTTP: `durably serve`) starts the orchestration,
gets an instance id at once, and polls `get_status` until the instance finishes, reading
the custom status published along the way.

Run: python -m examples.async_http_api
"""

from __future__ import annotations

import time
from typing import Any

import durably

app = durably.App()


@app.activity
def render_page(page: int) -> str:
    time.sleep(0.02)
    return f"page-{page}.pdf"


@app.orchestrator
def render_report(context: durably.OrchestrationContext) -> Any:
    pages = context.get_input()
    done = []
    for page in range(1, pages + 1):
        done.append((yield context.call_activity(render_page, page)))
        context.set_custom_status({"rendered": page, "of": pages})
    return done


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(render_report, client_input=5)
        print("started", instance_id)
        while True:
            status = client.get_status(instance_id)
            assert status is not None
            print(status.runtime_status, status.custom_status)
            if status.runtime_status.is_terminal:
                return status.output
            time.sleep(0.05)


if __name__ == "__main__":
    main()
