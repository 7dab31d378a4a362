"""`durably serve` as a user runs it: a subprocess that binds loopback by default, serves
the API and the dashboard with a worker, wants the token when given one, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.helpers import durably_command

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(store: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durably.cli",
            "serve",
            "tests.web.app:app",
            "--store",
            store,
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def _up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "durably serve never answered"
            time.sleep(0.1)


def test_serve_runs_the_api_with_a_worker_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    store = f"sqlite:///{tmp_path / 'served.db'}"
    process = _serve(store, "--port", str(port), env={"DURABLY_TOKEN": "tok"})
    url = f"http://127.0.0.1:{port}"
    try:
        _up(url, process)
        headers = {"Authorization": "Bearer tok"}
        assert httpx.get(f"{url}/runtime/webhooks/durabletask/instances").status_code == 401
        started = httpx.post(f"{url}/api/orchestrators/quick/s1", json="Mo", headers=headers)
        assert started.status_code == 202
        deadline = time.monotonic() + 30
        while (
            status := httpx.get(started.headers["location"], headers=headers)
        ).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status.json()["output"] == "Hello Mo!"
        assert httpx.get(f"{url}/", headers=headers).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out and "bound to 127.0.0.1" in out
    assert "token required" in out and "with a worker" in out


def test_serve_without_a_worker_leaves_the_work_to_others(tmp_path: Path) -> None:
    port = _free_port()
    store = f"sqlite:///{tmp_path / 'no-worker.db'}"
    process = _serve(store, "--port", str(port), "--no-worker")
    url = f"http://127.0.0.1:{port}"
    try:
        _up(url, process)
        assert httpx.post(f"{url}/api/orchestrators/quick/w1", json="No").status_code == 202
        time.sleep(0.5)
        status = httpx.get(f"{url}/runtime/webhooks/durabletask/instances/w1")
        assert status.status_code == 202 and status.json()["runtimeStatus"] == "Pending"
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert "no worker" in out


def test_serve_refuses_bad_usage() -> None:
    empty = durably_command("serve", "tests.web.app:app", "--token", " ")
    assert empty.code == 2 and "--token must not be empty" in empty.err
    missing = durably_command("serve", "no_such_module:app")
    assert missing.code == 2 and "cannot import" in missing.err
