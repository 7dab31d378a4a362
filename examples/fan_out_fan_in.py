"""Fan-out/fan-in: run many activities in parallel, then aggregate their results.

Run: python -m examples.fan_out_fan_in
"""

from __future__ import annotations

from typing import Any

import durably

app = durably.App()


@app.activity
def list_files(prefix: str) -> list[str]:
    return [f"{prefix}/file{i}.txt" for i in range(20)]


@app.activity
def count_bytes(path: str) -> int:
    return len(path) * 100  # stands in for reading the file


@app.orchestrator
def backup(context: durably.OrchestrationContext) -> Any:
    files = yield context.call_activity(list_files, context.get_input())
    sizes = yield context.task_all([context.call_activity(count_bytes, f) for f in files])
    return {"files": len(files), "total_bytes": sum(sizes)}


def main(store: str = "sqlite:///examples.db") -> Any:
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(backup, client_input="/data")
        status = client.wait_for_completion(instance_id, timeout=30)
        print(status.runtime_status, status.output)
        return status.output


if __name__ == "__main__":
    main()
