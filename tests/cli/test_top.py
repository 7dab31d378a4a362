"""`durably top`: one reading of any store shows throughput and latency per orchestrator,
the backlog and its age, the instances running longest and the recent failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import durably
from durably.cli.top import read
from tests.cli.helpers import durably_command

app = durably.App()


@app.activity
def work(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x


@app.orchestrator
def job(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(work, context.get_input()))


@app.orchestrator
def waiting(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("never"))


def _fill(store: str) -> None:
    with durably.Worker(app, store=store, poll_interval=0.02) as worker:
        client = worker.client()
        done = [client.start_new(job, f"job-{n}", n) for n in range(4)]
        failed = client.start_new(job, "job-bad", -1)
        client.start_new(waiting, "long-runner")
        for instance_id in [*done, failed]:
            client.wait_for_completion(instance_id, timeout=30)
    with durably.Client(store) as client:
        client.start_new("job", "queued", 1)  # no worker now: it waits in the backlog


def test_one_reading(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'top.db'}"
    _fill(store)
    with durably.Client(store) as client:
        snapshot = read(client.backend, dt.timedelta(minutes=5))
    job = snapshot.functions["job"]
    assert (job.started, job.finished, job.failed) == (6, 5, 1)
    assert len(job.latencies) == 5
    assert [r.instance_id for r in snapshot.running] == ["long-runner"]
    assert [r.instance_id for r in snapshot.failures] == ["job-bad"]
    assert snapshot.backlog["orchestration"] == 1 and snapshot.oldest["orchestration"] is not None


def test_durably_top_once_prints_the_view(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'top.db'}"
    _fill(store)
    shown = durably_command("top", "--once", store=store)
    assert shown.code == 0, shown.err
    for text in ("durably top", "Completed 4", "Failed 1", "job", "long-runner", "job-bad"):
        assert text in shown.out, (text, shown.out)
    assert "backlog  orchestration 1, oldest" in shown.out


def test_the_live_view_stopped_by_sigterm_leaves_its_last_frame_in_a_pipe(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    store = f"sqlite:///{tmp_path / 'top.db'}"
    _fill(store)
    env = {**os.environ, "COLUMNS": "200", "DURABLY_STORE": store}
    view = subprocess.Popen(
        [sys.executable, "-m", "durably.cli", "top", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Once the view catches SIGTERM (Linux lists the caught signals in /proc).
    deadline = time.monotonic() + 30
    while not _catches(view.pid, signal.SIGTERM):
        assert time.monotonic() < deadline and view.poll() is None
        time.sleep(0.05)
    view.send_signal(signal.SIGTERM)
    out, err = view.communicate(timeout=30)
    assert view.returncode == 0, err
    assert "durably top" in out and "job-bad" in out


def _catches(pid: int, signum: int) -> bool:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False
