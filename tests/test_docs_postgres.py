"""docs/postgres.md runs as written: the monitoring queries and the SQLite-to-PostgreSQL copy."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import durably
from tests import pg

DOC = Path(__file__).resolve().parents[1] / "docs" / "postgres.md"
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

app = durably.App()


@app.activity
def double(x: int) -> int:
    return 2 * x


@app.orchestrator
def waits_then_doubles(context: durably.OrchestrationContext) -> Any:
    value = yield context.wait_for_external_event("go")
    return (yield context.call_activity(double, value))


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def test_the_monitoring_queries_run(tmp_path: Path) -> None:
    server = pg.server_url()
    with pg.fresh_schema(server) as schema:
        store = pg.with_query(server, schema=schema, task_hub="monitored")
        with durably.Client(store, app=app) as client:
            client.start_new(waits_then_doubles, "waiting", 1)
        queries = _blocks("sql")
        assert len(queries) >= 6
        with pg.admin(server) as connection:
            connection.execute(f"SET search_path TO {schema}")
            cursors = [connection.execute(query) for query in queries]
            results = [c.fetchall() if c.description else [] for c in cursors]  # ANALYZE: none
        assert results[0][0][:3] == ("monitored", 1, 0)  # one runnable start message
        assert ("monitored", "Pending", 1) in results[2]


def test_the_copy_script_moves_a_sqlite_hub_to_postgresql(tmp_path: Path) -> None:
    server = pg.server_url()
    sqlite_store = f"sqlite:///{tmp_path / 'app.db'}"
    hub = f"moved{uuid.uuid4().hex[:8]}"
    with durably.Worker(app, store=pg.with_query(sqlite_store, task_hub=hub)) as worker:
        client = worker.client()
        for n in range(3):
            client.start_new(waits_then_doubles, f"i{n}", n)
        client.raise_event("i0", "go", 21)
        assert client.wait_for_completion("i0", timeout=30).output == 42
        pg.wait_until(
            lambda: all(
                client.get_status(f"i{n}").runtime_status == "Running"  # type: ignore[union-attr]
                for n in (1, 2)
            ),
            what="the others waiting",
        )
    (script,) = _blocks("python")
    (tmp_path / "copy_hub.py").write_text(script)
    result = subprocess.run(
        [sys.executable, "copy_hub.py", str(tmp_path / "app.db"), server, hub],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with durably.Worker(app, store=pg.with_query(server, task_hub=hub)) as worker:
        client = worker.client()
        assert client.get_status("i0").output == 42  # type: ignore[union-attr]
        client.raise_event("i1", "go", 5)
        client.raise_event("i2", "go", 6)
        assert client.wait_for_completion("i1", timeout=30).output == 10
        assert client.wait_for_completion("i2", timeout=30).output == 12
        client.purge_instance_history_by()  # the hub lives in the shared test database
