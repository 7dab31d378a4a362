"""Poison work is bounded: an activity that kills its worker process is delivered
max_dequeue_count times, then its task fails with PoisonWorkError; other work goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import durably
from tests import pg
from tests.durability import poison_app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def _deaths_until_done(store: str, watched: str) -> int:
    """Run worker processes one after the other until ``watched`` finishes; how many died."""
    for deaths in range(12):
        worker = subprocess.run(
            [sys.executable, "-m", "tests.durability.poison_app", store, watched],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if worker.returncode == 0:
            return deaths
        assert worker.returncode == 9, worker.stderr
    raise AssertionError(f"{watched} never finished")


def test_an_activity_that_kills_its_worker_fails_after_max_dequeue_count(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'poison.db'}"
    with durably.Client(store, app=poison_app.app) as client:
        client.start_new(poison_app.victim, instance_id="victim")
        others = [client.start_new(poison_app.bystander, client_input=n) for n in range(5)]
        deaths = _deaths_until_done(store, "victim")
        status = client.get_status("victim")
        assert status is not None and status.runtime_status == "Completed", status
        assert status.output["error_type"] == "PoisonWorkError"
        assert "delivered 3 times without its worker reporting back" in status.output["message"]
        assert deaths == 3
        outputs = [s.output for s in map(client.get_status, others) if s is not None]
        assert outputs == [n + 3 for n in range(5)]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_orchestration_that_kills_its_worker_is_failed(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        store = f"sqlite:///{tmp_path / 'killer.db'}"
    else:
        store = pg.with_query(pg.server_url(), task_hub=f"k-{uuid.uuid4().hex[:10]}")
    with durably.Client(store, app=poison_app.app) as client:
        client.start_new(poison_app.killer, instance_id="killer")
        deaths = _deaths_until_done(store, "killer")
        status = client.get_status("killer")
    assert deaths == 5  # the default max_dequeue_count
    assert status is not None and status.runtime_status == "Failed"
    assert status.output.startswith("PoisonWorkError: the episodes of 'killer' were delivered 5")
