"""context.is_patched: an orchestrator gains a step while executions started before the
deploy replay the path they took, then take the new one from where they are."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import durably
from durably.backends.memory import MemoryBackend
from durably.history import GenericEvent, TaskCompleted

old, new = durably.App(), durably.App()


@old.activity(name="step")
@new.activity(name="step")
def step(x: str) -> str:
    return f"step {x}"


@new.activity
def audit(x: str) -> str:
    return f"audit {x}"


@old.orchestrator(name="rounds")
def rounds_before(context: durably.OrchestrationContext) -> Any:
    done = []
    for n in range(3):
        yield context.wait_for_external_event("go")
        done.append((yield context.call_activity("step", str(n))))
    return done


@new.orchestrator(name="rounds")
def rounds_after(context: durably.OrchestrationContext) -> Any:
    done = []
    for n in range(3):
        yield context.wait_for_external_event("go")
        if context.is_patched("audit"):
            done.append((yield context.call_activity(audit, str(n))))
        done.append((yield context.call_activity("step", str(n))))
    return done


def _completed_steps(client: durably.Client, instance_id: str) -> int:
    return sum(isinstance(e, TaskCompleted) for e in client.get_history(instance_id))


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_execution_from_before_the_deploy_takes_the_new_path_from_where_it_is() -> None:
    store = MemoryBackend()
    with durably.Worker(old, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new("rounds")
        client.raise_event(instance_id, "go")
        _until(lambda: _completed_steps(client, instance_id) == 1)
    # The deploy: round 0 was run by the old code; rounds 1 and 2 run with the patch,
    # every episode replaying the whole history (cache off).
    with durably.Worker(new, store=store, cache_size=0) as worker:
        client = worker.client()
        for _ in range(2):
            client.raise_event(instance_id, "go")
        status = client.wait_for_completion(instance_id, timeout=30)
        history = client.get_history(instance_id)
    assert status.runtime_status == "Completed"
    assert status.output == ["step 0", "audit 1", "step 1", "audit 2", "step 2"]
    markers = [e.data for e in history if isinstance(e, GenericEvent)]
    assert markers == ['{"patch":"audit"}']  # recorded once, when first taken


def test_a_new_execution_takes_the_new_path_and_replays_it() -> None:
    store = MemoryBackend()
    with durably.Worker(new, store=store, cache_size=0) as worker:
        client = worker.client()
        instance_id = client.start_new("rounds")
        for _ in range(3):
            client.raise_event(instance_id, "go")
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.output == [
        "audit 0", "step 0", "audit 1", "step 1", "audit 2", "step 2",
    ]  # fmt: skip
    report = durably.testing.replay_history(rounds_after, client.get_history(instance_id))
    assert report.matches_history, report


def test_history_from_before_the_patch_replays_cleanly() -> None:
    store = MemoryBackend()
    with durably.Worker(old, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new("rounds")
        for _ in range(3):
            client.raise_event(instance_id, "go")
        client.wait_for_completion(instance_id, timeout=30)
        history = client.get_history(instance_id)
    report = durably.testing.replay_history(rounds_after, history)
    assert report.matches_history, report


def test_a_patch_name_must_be_a_non_empty_string() -> None:
    app = durably.App()

    @app.orchestrator
    def bad(context: durably.OrchestrationContext) -> Any:
        return context.is_patched("")
        yield

    with durably.Worker(app, store=MemoryBackend()) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(bad), timeout=30)
    assert status.runtime_status == "Failed"
    assert "is_patched takes a non-empty patch name" in str(status.output)
