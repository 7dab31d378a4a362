"""The overload workload's app: a two-step chain, ``two_steps(i) == i + 2``.

``python -m benchmarks.overload_app STORE_URL`` runs a worker on it (what ``durably worker
benchmarks.overload_app:app --store URL`` runs), printing ``cached N`` every second: the
live orchestrations its cache holds, which ``python -m benchmarks.overload`` samples.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import durably

app = durably.App()
ORCHESTRATOR = "two_steps"


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def two_steps(context: durably.OrchestrationContext) -> Any:
    x = yield context.call_activity(add_one, context.get_input())
    return (yield context.call_activity(add_one, x))


def expected(client_input: int) -> int:
    """The output of ``two_steps`` started with ``client_input``."""
    return client_input + 2


def main(url: str) -> None:
    """Run a worker with the Worker's defaults on the store at ``url`` until SIGTERM, as
    ``durably worker`` does; print how many live orchestrations it caches every second."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker = durably.Worker(app, store=url)

    def report() -> None:
        while True:
            time.sleep(1.0)
            print(f"cached {worker.orchestrations.cached_instances}", flush=True)

    threading.Thread(target=report, name="overload-report", daemon=True).start()
    print("ready", flush=True)
    worker.run_forever()


if __name__ == "__main__":
    main(sys.argv[1])
