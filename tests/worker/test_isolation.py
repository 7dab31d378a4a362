"""A failure that belongs to one instance fails that instance (or its task) and nothing
else: the worker's other orchestrations go on."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import durably
from durably.backends.base import Backend, EpisodeBatch, EpisodeRunner, OrchestrationCommit
from durably.backends.memory import MemoryBackend
from durably.history import HistoryEvent
from tests import pg

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
    # No cache: every episode reads its history, so the unreadable one fails at its next.
    with durably.Worker(app, store=backend, orchestration_batch_size=8, cache_size=0) as worker:
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


def _corrupt(url: str, statement: str, *params: Any) -> None:
    """Run a statement on the store's own tables, behind durably's back."""
    if url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db, db:
            db.execute(statement, params)
    else:
        with pg.admin(url) as db:
            db.execute(statement.replace("?", "%s"), params)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_row_that_cannot_be_read_fails_only_its_own_instance(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'bad.db'}"
    else:
        url = pg.with_query(pg.server_url(), task_hub=f"bad-{uuid.uuid4().hex[:10]}")
    hub = durably.backends.parse_options(url).task_hub
    with durably.Worker(app, store=url) as worker:  # bad-history: waiting, with history
        client = worker.client()
        client.start_new(waits_for_go, instance_id="bad-history")
        pg.wait_until(lambda: len(client.get_history("bad-history")) > 0, what="a history")
    with durably.Client(url, app=app) as client:  # bad-event: an event nobody read yet
        client.start_new(waits_for_go, instance_id="bad-event")
        client.raise_event("bad-event", "go", "fine")
    damage = "UPDATE {table} SET event = ? WHERE task_hub = ? AND instance_id = ?"
    _corrupt(url, damage.format(table="durably_inbox"), '{"EventType": "X"', hub, "bad-event")
    _corrupt(url, damage.format(table="durably_history"), "not json", hub, "bad-history")
    with durably.Worker(app, store=url, orchestration_batch_size=4) as worker:
        client = worker.client()
        client.raise_event("bad-history", "go", "now")  # its history must be read again
        healthy = [client.start_new(chain, client_input=n) for n in range(8)]
        bad_event = client.wait_for_completion("bad-event", timeout=20)
        bad_history = client.wait_for_completion("bad-history", timeout=20)
        done = [client.wait_for_completion(i, timeout=20).output for i in healthy]
    assert bad_event.runtime_status == "Failed"
    assert "of instance 'bad-event' cannot be read" in bad_event.output
    assert bad_history.runtime_status == "Failed"
    assert "history row 0 of instance 'bad-history' cannot be read" in bad_history.output
    assert done == [n + 3 for n in range(8)]


@app.orchestrator
def waits_for_go(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("go"))
