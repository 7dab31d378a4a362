"""Function chaining: call activities one after another, each result feeding the next.

Run: python -m examples.function_chaining
"""

from __future__ import annotations

from typing import Any

import durably

app = durably.App()


@app.activity
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.orchestrator
def hello_sequence(context: durably.OrchestrationContext) -> Any:
    result1 = yield context.call_activity("say_hello", "Tokyo")
    result2 = yield context.call_activity(say_hello, "Seattle")
    result3 = yield context.call_activity(say_hello, "London")
    return [result1, result2, result3]


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new("hello_sequence")
        status = client.wait_for_completion(instance_id, timeout=30)
        print(status.runtime_status, status.output)
        return status.output


if __name__ == "__main__":
    main()
