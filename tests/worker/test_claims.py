"""Activities a worker's own commits claim run at once, and never more than the pool holds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

app = durably.App()
runs: Counter[int] = Counter()
running = {"now": 0, "most": 0}
_lock = threading.Lock()


@app.activity
def tracked(n: int) -> int:
    with _lock:
        runs[n] += 1
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
    time.sleep(0.002)
    with _lock:
        running["now"] -= 1
    return n * 2


@app.orchestrator
def fan(context: durably.OrchestrationContext) -> Any:
    width = context.get_input()
    results = yield context.task_all([context.call_activity(tracked, i) for i in range(width)])
    return sum(results)


@app.orchestrator
def sequence(context: durably.OrchestrationContext) -> Any:
    total = 0
    for i in range(context.get_input()):
        total += yield context.call_activity(tracked, 1000 + i)
    return total


@pytest.fixture(autouse=True)
def _reset() -> None:
    runs.clear()
    running.update(now=0, most=0)


@pytest.mark.parametrize("concurrency", [1, 3, 32])
def test_a_fan_out_larger_than_the_pool_runs_each_activity_once(
    backend: Backend, concurrency: int
) -> None:
    with durably.Worker(app, backend, activity_concurrency=concurrency) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(fan, client_input=40), timeout=60)
    assert status.output == sum(2 * i for i in range(40))
    assert runs == Counter(range(40))  # no crash, so exactly once each
    assert running["most"] <= concurrency


def test_sequences_in_flight_together_finish_with_their_own_results(backend: Backend) -> None:
    with durably.Worker(app, backend, activity_concurrency=4) as worker:
        client = worker.client()
        ids = [client.start_new(sequence, client_input=5) for _ in range(12)]
        outputs = [client.wait_for_completion(i, timeout=60).output for i in ids]
    assert outputs == [sum(2 * (1000 + i) for i in range(5))] * 12
    assert running["most"] <= 4


def test_a_start_through_the_workers_client_commits_the_first_episode(backend: Backend) -> None:
    worker = durably.Worker(app, backend)
    client = worker.client()
    with worker:
        instance_id = client.start_new(sequence, client_input=1)
        # Returned after the commit that created the instance and ran its first episode.
        events = [e.event_type for e in client.get_history(instance_id)]
        assert events[:3] == ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled"]
        assert client.wait_for_completion(instance_id, timeout=30).output == 2000
    later = client.start_new(sequence, client_input=1)  # worker stopped: an ordinary start
    assert client.get_status(later).runtime_status == durably.OrchestrationRuntimeStatus.Pending
    assert client.get_history(later) == []
