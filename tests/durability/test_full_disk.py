"""A SQLite store that cannot be written (its disk full, or read-only) makes commits fail
cleanly: the worker backs off and retries, and once the store can be written again every
instance completes, with a file that passes SQLite's integrity check."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import durably
from durably.backends.sqlite import SqliteBackend
from durably.testing.replay import replay_history

pytestmark = pytest.mark.timeout(120)
app = durably.App()


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def chain(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()
    for _ in range(5):
        x = yield context.call_activity(add_one, x)
    return x


def _pragma(backend: SqliteBackend, statement: str) -> None:
    # The fault is injected on the worker's own writer connection, between transactions.
    with backend._write_lock:
        backend._writer.execute(statement)


@pytest.mark.parametrize(
    ("fault", "cure"),
    [
        ("PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 1073741823"),
        ("PRAGMA query_only = ON", "PRAGMA query_only = OFF"),
    ],
    ids=["disk-full", "read-only"],
)
def test_unwritable_store_then_recovery(
    tmp_path: Path, fault: str, cure: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    backend = SqliteBackend(path)
    with durably.Worker(app, store=backend, poll_interval=0.05) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new(chain, client_input=0), timeout=30)
        # Work under way when the fault strikes (waiting for some of it to finish first
        # let a fast worker finish all of it: nothing left to fail).
        first = [client.start_new(chain, client_input=n) for n in range(20)]
        pages = backend._writer.execute("PRAGMA page_count").fetchone()[0]
        _pragma(backend, fault.format(pages=pages))
        time.sleep(1.0)  # the worker keeps failing to commit, and backs off
        _pragma(backend, cure)
        late = [client.start_new(chain, client_input=n) for n in range(100, 105)]
        statuses = [client.wait_for_completion(i, timeout=60) for i in first + late]
    assert [s.output for s in statuses] == [n + 5 for n in [*range(20), *range(100, 105)]]
    logged = [r for r in caplog.records if r.name == "durably.worker" and r.levelno >= 30]
    assert logged, "the failed commits were logged"
    with durably.Client(f"sqlite:///{path}") as reader:
        for instance_id in first + late:
            report = replay_history(chain, reader.get_history(instance_id))
            status = reader.get_status(instance_id)
            assert status is not None and report.output == json.dumps(status.output)
    backend.close()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
