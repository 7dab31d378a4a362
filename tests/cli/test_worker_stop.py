"""A worker whose activity hangs still stops: within its stop timeout on SIGTERM, at once
on a second signal; the hung work is left to be retried."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import durably

from .helpers import ROOT

pytestmark = pytest.mark.timeout(60)

HANGING_APP = """
import pathlib, time
import durably

app = durably.App()

@app.activity
def hang(marker: str) -> None:
    pathlib.Path(marker).write_text("running")
    time.sleep(3600)

@app.orchestrator
def stuck(context):
    yield context.call_activity(hang, context.get_input())
"""


def _worker_with_a_hung_activity(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    (tmp_path / "hanging_app.py").write_text(HANGING_APP)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    marker = tmp_path / "running"
    with durably.Client(store) as client:
        client.start_new("stuck", client_input=str(marker))
    command = [sys.executable, "-m", "durably.cli", "worker", "hanging_app:app"]
    worker = subprocess.Popen(
        [*command, "--store", store, *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the activity never started"
        time.sleep(0.05)
    return worker


def test_sigterm_stops_within_the_stop_timeout(tmp_path: Path) -> None:
    worker = _worker_with_a_hung_activity(tmp_path, "--stop-timeout", "1")
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=20)
    assert time.monotonic() - started < 10
    assert worker.returncode == 0, err
    assert "worker stopped" in out and "still busy after 1 s" in err


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_stops_at_once(tmp_path: Path, second: signal.Signals) -> None:
    worker = _worker_with_a_hung_activity(tmp_path, "--stop-timeout", "600")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the worker is now waiting for the hung activity
    started = time.monotonic()
    worker.send_signal(second)
    _, err = worker.communicate(timeout=20)
    assert time.monotonic() - started < 10
    assert worker.returncode == 1, err
    assert "again, stopping now" in err and "Traceback" not in err


def test_stop_returns_within_its_timeout_through_the_api(tmp_path: Path) -> None:
    (tmp_path / "hung_api_app.py").write_text(HANGING_APP)
    sys.path.insert(0, str(tmp_path))
    try:
        import hung_api_app  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    marker = tmp_path / "running"
    worker = durably.Worker(hung_api_app.app, store=f"sqlite:///{tmp_path / 'api.db'}").start()
    worker.client().start_new("stuck", client_input=str(marker))
    while not marker.exists():
        time.sleep(0.05)
    started = time.monotonic()
    worker.stop(timeout=1)
    assert time.monotonic() - started < 5
