"""Kill -9 a worker process at several points; a fresh worker finishes everything correctly."""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from pathlib import Path

import pytest

import durably
from durably.history import TaskCompleted, TaskFailed, TaskScheduled
from tests.durability.crash_app import expected
from tests.processes import spawn_ready

pytestmark = pytest.mark.timeout(240)


def _spawn_worker(store: str) -> subprocess.Popen[str]:
    return spawn_ready("tests.durability.crash_app", store)


def _close(process: subprocess.Popen[str]) -> None:
    if process.stdout is not None:
        process.stdout.close()


def _start_workload(client: durably.Client) -> dict[str, tuple[str, int]]:
    started = {}
    for n in range(30):
        kinds = [("chain", n), ("fan_out", 5 + n % 7), ("async_chain", n)]
        name, value = kinds[n % 3]
        started[client.start_new(name, instance_id=f"{name}-{n}", client_input=value)] = (
            name,
            value,
        )
    return started


def _assert_history_well_formed(client: durably.Client, instance_id: str) -> None:
    history = client.get_history(instance_id)
    scheduled = collections.Counter(e.event_id for e in history if isinstance(e, TaskScheduled))
    results = collections.Counter(
        e.task_scheduled_id for e in history if isinstance(e, TaskCompleted | TaskFailed)
    )
    assert all(count == 1 for count in scheduled.values()), scheduled
    assert all(count == 1 for count in results.values()), results
    assert set(results) == set(scheduled)


def _wait_all(client: durably.Client, ids: dict[str, tuple[str, int]]) -> None:
    for instance_id, (name, value) in ids.items():
        status = client.wait_for_completion(instance_id, timeout=120)
        assert status.runtime_status == "Completed", (instance_id, status.output)
        assert status.output == expected(name, value)
        _assert_history_well_formed(client, instance_id)


def kill_workers_then_finish(store: str) -> None:
    """Start the workload, SIGKILL a worker three times mid-run, let a fresh one finish."""
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


def test_sigkill_at_several_points_loses_nothing(tmp_path: Path) -> None:
    kill_workers_then_finish(f"sqlite:///{tmp_path / 'crash.db'}")


def test_two_worker_processes_share_one_file_without_double_processing(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [_spawn_worker(store), _spawn_worker(store)]
    try:
        with durably.Client(store) as client:
            ids = _start_workload(client)
            _wait_all(client, ids)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=30) == 0
            _close(worker)
