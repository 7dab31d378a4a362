"""Human interaction: wait for an approval event, escalate if none arrives in time.

Run: python -m examples.human_interaction
"""

from __future__ import annotations

import time
from typing import Any

import durably

app = durably.App()


@app.activity
def request_approval(request: dict[str, Any]) -> str:
    return f"asked {request['approver']} to approve {request['amount']}"


@app.activity
def escalate(request: dict[str, Any]) -> str:
    return f"escalated {request['amount']} to the manager"


@app.orchestrator
def approval_workflow(context: durably.OrchestrationContext) -> Any:
    request = context.get_input()
    yield context.call_activity(request_approval, request)
    try:
        decision = yield context.wait_for_external_event("Approval", timeout=request["timeout"])
    except TimeoutError:
        return (yield context.call_activity(escalate, request))
    return f"approved by {decision['by']}" if decision["approved"] else "rejected"


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        answered = client.start_new(
            approval_workflow, client_input={"approver": "ana", "amount": 120, "timeout": 30}
        )
        ignored = client.start_new(
            approval_workflow, client_input={"approver": "bob", "amount": 999, "timeout": 0.5}
        )
        time.sleep(0.2)
        client.raise_event(answered, "Approval", {"approved": True, "by": "ana"})
        outputs = [client.wait_for_completion(i, timeout=30).output for i in (answered, ignored)]
        print(outputs)
        return outputs


if __name__ == "__main__":
    main()
