"""A failure that belongs to one instance fails that instance (or its task) and nothing
else: the worker's other orchestrations go on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import durably
from durably.backends.base import Backend, EpisodeBatch, EpisodeRunner, OrchestrationCommit
from durably.backends.memory import MemoryBackend
from durably.history import HistoryEvent

app = durably.App()


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def chain(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()
    for _ in range(3):
        x = yield context.call_activity(add_one, x)
    return x


@app.orchestrator
def parent(context: durably.OrchestrationContext) -> Any:
    child_id = context.get_input()
    try:
        yield context.call_sub_orchestrator(chain, 1, instance_id=child_id)
    except ValueError as exc:
        return f"refused: {exc}"
    return "started"


@app.orchestrator
def careless_parent(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_sub_orchestrator(chain, 1, instance_id=context.get_input()))


BAD_IDS = [
    ("a\x00b", "control characters"),
    ("x" * 9_000, "1 to 256 characters"),
    ("lone \ud800", "no lone surrogates"),
    ("a/b", "must not contain"),
]


@pytest.mark.parametrize(("child_id", "rule"), BAD_IDS, ids=["nul", "long", "surrogate", "slash"])
def test_a_bad_sub_orchestration_id_is_refused_at_the_call(
    backend: Backend, child_id: str, rule: str
) -> None:
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        caught = client.start_new(parent, client_input=child_id)
        careless = client.start_new(careless_parent, client_input=child_id)
        healthy = [client.start_new(chain, client_input=n) for n in range(5)]
        outcome = client.wait_for_completion(caught, timeout=20)
        failed = client.wait_for_completion(careless, timeout=20)
        done = [client.wait_for_completion(i, timeout=20) for i in healthy]
    assert outcome.runtime_status == "Completed" and rule in outcome.output
    assert failed.runtime_status == "Failed" and failed.output.startswith("ValueError: instance id")
    assert [d.output for d in done] == [n + 3 for n in range(5)]


@app.orchestrator
def long_parent(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_sub_orchestrator(chain, 1))


def test_a_long_parent_id_gives_its_children_valid_default_ids(backend: Backend) -> None:
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        instance_id = client.start_new(long_parent, instance_id="p" * 256)
        status = client.wait_for_completion(instance_id, timeout=20)
    assert (status.runtime_status, status.output) == ("Completed", 4)


class _Refusing(MemoryBackend):
    """A store that refuses the commits of one instance (as a database refuses a value it
    cannot keep) and cannot read another one's history (a row it cannot decode)."""

    def run_episodes(self, runner: EpisodeRunner, **kwargs: Any) -> EpisodeBatch:
        def checked(items: Sequence[Any]) -> Sequence[OrchestrationCommit]:
            commits = runner(items)
            ids = {c.work_item.instance.instance_id for c in commits}
            if "unstorable" in ids and not any(c.runtime_status == "Failed" for c in commits):
                raise ValueError("the store cannot keep this value")
            return commits

        return super().run_episodes(checked, **kwargs)

    def commit_if_unchanged(self, commit: OrchestrationCommit, **kwargs: Any) -> None:
        return None  # every step through run_episodes, where the refusal is

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        if instance_id == "unreadable":
            raise ValueError("history row 1 of unreadable is not JSON")
        return super().get_history(instance_id)


def test_one_instance_that_cannot_be_saved_or_read_fails_alone() -> None:
    backend = _Refusing()
    with durably.Worker(app, store=backend, orchestration_batch_size=8) as worker:
        client = worker.client()
        bad = [client.start_new(chain, instance_id=i, client_input=0) for i in ("unstorable",)]
        bad.append(client.start_new(chain, instance_id="unreadable", client_input=0))
        healthy = [client.start_new(chain, client_input=n) for n in range(20)]
        outcomes = [client.wait_for_completion(i, timeout=20) for i in bad]
        done = [client.wait_for_completion(i, timeout=20) for i in healthy]
    assert [o.runtime_status for o in outcomes] == ["Failed", "Failed"]
    assert outcomes[0].output.startswith("ValueError: the store cannot keep this value")
    assert outcomes[1].output.startswith("ValueError: history row 1 of unreadable")
    assert [d.output for d in done] == [n + 3 for n in range(20)]
