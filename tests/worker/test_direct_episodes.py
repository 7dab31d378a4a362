"""Activity results applied by running the episode at once give the same outcome as the inbox."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.history import TaskCompleted, TaskFailed
from durably.testing.backend_contract import StoreFactory

app = durably.App()


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.activity
def fail(message: str) -> None:
    raise ValueError(message)


gate = threading.Event()
running = threading.Event()


@app.activity
def wait_for_gate(x: int) -> int:
    running.set()
    assert gate.wait(30), "the test never opened the gate"
    return x


@app.orchestrator
def result_and_event(context: durably.OrchestrationContext) -> Any:
    result = context.call_activity(wait_for_gate, 7)
    event = context.wait_for_external_event("go")
    done = yield context.task_all([result, event])
    more = yield context.call_activity(add_one, done[0])
    return [*done, more]


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


def _run(
    backend: Backend, direct: bool, *, one_at_a_time: bool = False
) -> list[tuple[Any, list[str]]]:
    with durably.Worker(app, backend, direct_episodes=direct) as worker:
        client = worker.client()
        if one_at_a_time:  # the worker has nothing else to do: each step runs alone
            ids = []
            for n in range(3):
                ids.append(client.start_new(mixed, client_input=n * 10))
                client.wait_for_completion(ids[-1], timeout=30)
        else:
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


def test_one_instance_at_a_time_gives_the_inbox_paths_results(backend: Backend) -> None:
    alone = _run(backend, True, one_at_a_time=True)
    assert [output for output, _ in alone] == [
        [n * 10 + 3, [1, 2, 3, 4, 5], "ValueError: boom"] for n in range(3)
    ]
    inbox = _run(backend, False)[:3]
    # Episodes may group results differently; the events they record are the same.
    for (_, ours), (_, theirs) in zip(alone, inbox, strict=True):
        assert sorted(_recorded(ours)) == sorted(_recorded(theirs))


def _recorded(events: list[str]) -> list[str]:
    return [e for e in events if e not in ("OrchestratorStarted", "OrchestratorCompleted")]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "inbox"])
def test_an_event_that_arrives_while_the_activity_runs_is_applied_once(
    backend: Backend, direct: bool
) -> None:
    gate.clear()
    running.clear()
    with durably.Worker(app, backend, direct_episodes=direct) as worker:
        client = worker.client()
        instance_id = client.start_new(result_and_event)
        assert running.wait(30)
        client.raise_event(instance_id, "go", "event data")
        gate.set()
        status = client.wait_for_completion(instance_id, timeout=30)
        history = client.get_history(instance_id)
    assert status.output == [7, "event data", 8]
    kinds = [e.event_type for e in history]
    assert kinds.count("EventRaised") == 1 and kinds.count("TaskCompleted") == 2


def test_waiting_on_an_instance_whose_activity_runs_sees_another_clients_terminate(
    backend: Backend, store_factory: StoreFactory
) -> None:
    gate.clear()
    running.clear()
    with durably.Worker(app, backend) as worker:
        client = worker.client()
        instance_id = client.start_new(result_and_event)
        assert running.wait(30)
        with durably.Client(store_factory()) as other:
            other.terminate(instance_id, "enough")
            status = client.wait_for_completion(instance_id, timeout=30)
        gate.set()
    assert status.runtime_status is durably.OrchestrationRuntimeStatus.Terminated
