"""A worker frozen (SIGSTOP) past its leases while it runs activities, then thawed after
another worker took its work over: the results it still delivers are not recorded a
second time, and every instance ends as it should."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

import durably
from tests import pg
from tests.durability.test_kill9 import _close, _spawn_worker, _start_workload, _wait_all

pytestmark = pytest.mark.timeout(240)

LEASE = 1.5  # crash_app's lease_seconds


def pause_a_worker_past_its_leases(store: str) -> None:
    with durably.Client(store) as client:
        ids = _start_workload(client)
        frozen, other = _spawn_worker(store), _spawn_worker(store)
        try:
            for _ in range(3):
                time.sleep(0.3)
                frozen.send_signal(signal.SIGSTOP)
                time.sleep(LEASE + 1.0)  # its leases run out: the other worker takes over
                frozen.send_signal(signal.SIGCONT)
            _wait_all(client, ids)
        finally:
            for worker in (frozen, other):
                worker.send_signal(signal.SIGCONT)
                worker.send_signal(signal.SIGTERM)
            for worker in (frozen, other):
                assert worker.wait(timeout=30) == 0
                _close(worker)


def test_a_worker_paused_past_its_leases_records_nothing_twice(tmp_path: Path) -> None:
    pause_a_worker_past_its_leases(f"sqlite:///{tmp_path / 'pause.db'}")


@pytest.mark.postgres
def test_a_worker_paused_past_its_leases_records_nothing_twice_on_postgres() -> None:
    pause_a_worker_past_its_leases(
        pg.with_query(pg.server_url(), task_hub=f"pause-{uuid.uuid4().hex[:12]}")
    )
