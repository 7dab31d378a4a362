"""Sub-orchestrations: a parent runs one child orchestration per item and gathers them.

Run: python -m examples.sub_orchestrations
"""

from __future__ import annotations

from typing import Any

import durably

app = durably.App()


@app.activity
def provision(step: str) -> str:
    return f"{step}: ok"


@app.orchestrator
def set_up_device(context: durably.OrchestrationContext) -> Any:
    device = context.get_input()
    results = []
    for step in ("register", "configure", "activate"):
        results.append((yield context.call_activity(provision, f"{device} {step}")))
    return results


@app.orchestrator
def set_up_fleet(context: durably.OrchestrationContext) -> Any:
    devices = context.get_input()
    children = [
        context.call_sub_orchestrator(set_up_device, d, instance_id=f"device-{d}") for d in devices
    ]
    return dict(zip(devices, (yield context.task_all(children)), strict=True))


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(set_up_fleet, client_input=["a1", "b2", "c3"])
        status = client.wait_for_completion(instance_id, timeout=30)
        print(status.runtime_status, status.output)
        return status.output


if __name__ == "__main__":
    main()
