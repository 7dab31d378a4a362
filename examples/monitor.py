"""Monitor: poll an external condition on a durable timer until it holds or time runs out.

Run: python -m examples.monitor
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import durably

app = durably.App()
_checks: dict[str, int] = {}
"""How often each simulated job was checked: it is done at the third check."""


@app.activity
def job_state(job: str) -> str:
    _checks[job] = _checks.get(job, 0) + 1
    return "done" if _checks[job] >= 3 else "running"


@app.orchestrator
def watch_job(context: durably.OrchestrationContext) -> Any:
    job = context.get_input()
    expires = context.current_utc_datetime + dt.timedelta(seconds=30)
    polls = 0
    while context.current_utc_datetime < expires:
        polls += 1
        state = yield context.call_activity(job_state, job)
        if state == "done":
            return {"job": job, "state": state, "polls": polls}
        yield context.create_timer(context.current_utc_datetime + dt.timedelta(milliseconds=100))
    return {"job": job, "state": "timed out", "polls": polls}


def main(store: str = "sqlite:///examples.db") -> Any:
    _checks.clear()  # every run watches a job that has just started
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(watch_job, client_input="nightly-build")
        status = client.wait_for_completion(instance_id, timeout=30)
        print(status.runtime_status, status.output)
        return status.output


if __name__ == "__main__":
    main()
