"""The kill -9 test of test_kill9.py on PostgreSQL: a worker killed at several points
(holding leases, mid-commit, with its LISTEN connection open) loses nothing."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

import durably
from tests import pg
from tests.durability.test_kill9 import _close, _spawn_worker, _start_workload, _wait_all

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]


def test_sigkill_at_several_points_loses_nothing_on_postgres() -> None:
    store = pg.with_query(pg.server_url(), task_hub=f"kill9-{uuid.uuid4().hex[:12]}")
    with durably.Client(store) as client:
        ids = _start_workload(client)
        for delay in (0.3, 0.6, 0.45):
            worker = _spawn_worker(store)
            time.sleep(delay)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            _close(worker)
        finished_early = sum(
            client.get_status(i).runtime_status == "Completed"  # type: ignore[union-attr]
            for i in ids
        )
        survivor = _spawn_worker(store)
        try:
            _wait_all(client, ids)
        finally:
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(timeout=30) == 0
            _close(survivor)
    assert finished_early < len(ids), "the kills should have landed mid-workload"
