"""`durably worker MODULE:app` as a real process: SIGTERM mid-workload loses nothing."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import durably
from durably.history import TaskCompleted, TaskFailed, TaskScheduled

from .examples_module import expected_squares
from .helpers import EXAMPLES_MODULE, ROOT, durably_command

Status = durably.OrchestrationRuntimeStatus
pytestmark = pytest.mark.timeout(180)
INSTANCES = 24


def _spawn_worker(store: str, cwd: Path) -> subprocess.Popen[str]:
    # Run from the directory holding examples_module.py: the worker imports it from there.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durably.cli",
            "worker",
            "examples_module:app",
            "--store",
            store,
            "--activity-concurrency",
            "4",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def _stop(worker: subprocess.Popen[str]) -> tuple[int, str, str]:
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    return worker.returncode, out, err


def _completed(client: durably.Client, ids: list[str]) -> int:
    statuses = [client.get_status(i) for i in ids]
    return sum(s is not None and s.runtime_status is Status.Completed for s in statuses)


def test_sigterm_mid_workload_then_restart_completes_every_instance(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES_MODULE, tmp_path / "examples_module.py")
    store = f"sqlite:///{tmp_path / 'workload.db'}"
    # The workload comes from other processes: the `durably start` command and this one.
    assert (
        durably_command("start", "squares", "--input", "100", "--id", "cli-0", store=store).code
        == 0
    )
    with durably.Client(store) as client:
        ids = ["cli-0"] + [
            client.start_new("squares", f"sq-{n:02d}", n) for n in range(1, INSTANCES)
        ]
        worker = _spawn_worker(store, tmp_path)
        deadline = time.monotonic() + 60
        while _completed(client, ids) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        code, out, err = _stop(worker)
        assert code == 0, err
        assert "worker stopped" in out and "Traceback" not in err
        done_at_stop = _completed(client, ids)
        assert 2 <= done_at_stop < INSTANCES, "the SIGTERM must land mid-workload"

        worker = _spawn_worker(store, tmp_path)
        try:
            statuses = [client.wait_for_completion(i, timeout=120) for i in ids]
        finally:
            code, _, err = _stop(worker)
        assert code == 0, err
        for instance_id, status in zip(ids, statuses, strict=True):
            n = 100 if instance_id == "cli-0" else int(instance_id[3:])
            assert status.runtime_status is Status.Completed, (instance_id, status.output)
            assert status.output == expected_squares(n)
            history = client.get_history(instance_id)
            scheduled = collections.Counter(
                e.event_id for e in history if isinstance(e, TaskScheduled)
            )
            results = collections.Counter(
                e.task_scheduled_id for e in history if isinstance(e, TaskCompleted | TaskFailed)
            )
            assert set(scheduled) == set(results) == set(range(6))
            assert max(scheduled.values()) == max(results.values()) == 1
