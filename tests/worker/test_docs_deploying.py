"""The patch example of docs/deploying.md runs as written: an instance that was waiting
when the new code was deployed takes the new step, one that had finished replays the old
path cleanly, a new one takes the new step."""

from __future__ import annotations

import re
import sys
import time
import types
from pathlib import Path
from typing import Any

import durably
from durably.backends.memory import MemoryBackend
from durably.history import EventRaised, TaskCompleted

DOC = Path(__file__).parents[2] / "docs" / "deploying.md"

before = durably.App(version="1.0")


@before.activity(name="reserve")
def reserve(order: str) -> str:
    return f"{order} reserved"


@before.activity(name="ship")
def ship(order: str) -> str:
    return f"{order} shipped"


@before.orchestrator(name="fulfil")
def fulfil(context: durably.OrchestrationContext) -> Any:
    order = context.get_input()
    done = [(yield context.call_activity("reserve", order))]
    yield context.wait_for_external_event("paid")
    done.append((yield context.call_activity("ship", order)))
    return done


def _documented() -> types.ModuleType:
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    module = types.ModuleType("deploying_example")
    sys.modules[module.__name__] = module
    exec(compile(block, str(DOC), "exec"), module.__dict__)
    return module


def _waiting(client: durably.Client, instance_id: str) -> None:
    deadline = time.monotonic() + 30
    while not any(isinstance(e, TaskCompleted) for e in client.get_history(instance_id)):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_patch_example_runs_as_documented() -> None:
    store = MemoryBackend()
    with durably.Worker(before, store=store) as worker:
        client = worker.client()
        finished = client.start_new("fulfil", "finished", "o1")
        client.raise_event(finished, "paid")
        client.wait_for_completion(finished, timeout=30)
        waiting = client.start_new("fulfil", "waiting", "o2")
        _waiting(client, waiting)
    after = _documented().app
    with durably.Worker(after, store=store, cache_size=0) as worker:  # the deploy
        client = worker.client()
        client.raise_event(waiting, "paid")
        fresh = client.start_new("fulfil", "fresh", "o3")
        client.raise_event(fresh, "paid")
        outputs = {i: client.wait_for_completion(i, timeout=30).output for i in (waiting, fresh)}
        old_history = client.get_history(finished)
    assert outputs == {
        "waiting": ["o2 reserved", "o2 checked", "o2 shipped"],
        "fresh": ["o3 reserved", "o3 checked", "o3 shipped"],
    }
    assert any(isinstance(e, EventRaised) for e in old_history)
    report = durably.testing.replay_history(after.orchestrators["fulfil"], old_history)
    assert report.matches_history, report
