"""An orchestration's input is stored once, on its instance row: its start message and
the ExecutionStarted in history leave it out, and every read puts it back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import durably
from durably.backends import open_backend
from durably.backends.sql.backend import SqlBackend
from durably.history import ExecutionStarted
from tests import pg

FIRST, SECOND = "a" * 200_000, "b" * 300_000
app = durably.App()


@app.activity
def size(text: str) -> int:
    return len(text)


@app.orchestrator
def twice(context: durably.OrchestrationContext) -> Any:
    text = context.get_input()
    n = yield context.call_activity(size, text[:10])
    if text == FIRST:
        context.continue_as_new(SECOND)
        return None
    return n + len(text)


def _stored(backend: SqlBackend, table: str, instance_id: str) -> int:
    statement = f"SELECT COALESCE(SUM(LENGTH(event)), 0) FROM {table}"
    statement += " WHERE task_hub = ? AND instance_id = ?"
    row = backend._reading(lambda tx: tx.one(statement, tx.hub, instance_id))
    return int(row[0]) if row else 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlBackend]:
    """A SQL store (the memory store keeps objects, not stored copies)."""
    if request.param == "sqlite":
        store = open_backend(f"sqlite:///{tmp_path / 'once.db'}")
        assert isinstance(store, SqlBackend)
        yield store
        store.close()
        return
    url = pg.server_url()
    with pg.fresh_schema(url, "once") as schema:
        store = open_backend(pg.with_query(url, schema=schema))
        assert isinstance(store, SqlBackend)
        yield store
        store.close()


def test_an_orchestration_input_is_stored_once(backend: SqlBackend) -> None:
    client = durably.Client(backend)
    instance_id = client.start_new(twice, client_input=FIRST)
    assert _stored(backend, "durably_inbox", instance_id) < 1_000  # the start message
    with durably.Worker(app, store=backend, cache_size=0):
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.runtime_status == "Completed" and status.output == 10 + len(SECOND)
    assert _stored(backend, "durably_history", instance_id) < 5_000
    (started,) = [e for e in client.get_history(instance_id) if isinstance(e, ExecutionStarted)]
    assert started.input == f'"{SECOND}"'
    assert client.get_status(instance_id).input_ == SECOND
