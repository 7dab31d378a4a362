"""Activity results applied by running the episode at once give the same outcome as the inbox."""

from __future__ import annotations

from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.history import TaskCompleted, TaskFailed

app = durably.App()


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.activity
def fail(message: str) -> None:
    raise ValueError(message)


@app.orchestrator
def mixed(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()
    for _ in range(3):
        x = yield context.call_activity(add_one, x)
    fanned = yield context.task_all([context.call_activity(add_one, i) for i in range(5)])
    try:
        yield context.call_activity(fail, "boom")
    except durably.TaskFailedError as error:
        return [x, fanned, str(error)]
    return None


def _run(backend: Backend, direct: bool) -> list[tuple[Any, list[str]]]:
    with durably.Worker(app, backend, direct_episodes=direct) as worker:
        client = worker.client()
        ids = [client.start_new(mixed, client_input=n * 10) for n in range(6)]
        outcomes = []
        for instance_id in ids:
            status = client.wait_for_completion(instance_id, timeout=30)
            history = client.get_history(instance_id)
            results = [
                e.task_scheduled_id for e in history if isinstance(e, TaskCompleted | TaskFailed)
            ]
            assert sorted(results) == list(range(len(results))), "each result once"
            outcomes.append((status.output, [e.event_type for e in history]))
        return outcomes


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "inbox"])
def test_results_and_histories_do_not_depend_on_the_path(backend: Backend, direct: bool) -> None:
    outcomes = _run(backend, direct)
    for n, (output, _) in enumerate(outcomes):
        assert output == [n * 10 + 3, [1, 2, 3, 4, 5], "ValueError: boom"]
