"""The examples in docs/management.md and docs/cli.md run as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import durably

DOCS = Path(__file__).resolve().parents[1] / "docs"
pytestmark = pytest.mark.timeout(120)


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_management_guide_runs_as_one_script(tmp_path: Path) -> None:
    text = (DOCS / "management.md").read_text()
    script = "\n".join(_blocks(text[: text.index("### Retention")], "python"))
    (tmp_path / "guide.py").write_text(script)
    result = subprocess.run(
        [sys.executable, "guide.py"], cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "['order-1 packed', 'ana', 'order-1 charged']" in lines
    assert "PurgeHistoryResult(instances_deleted=2)" in lines


def _durably(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = shlex.split(line.split(" #")[0].split(" > ")[0])
    assert args[0] == "durably"
    return subprocess.run(
        [sys.executable, "-m", "durably.cli", *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_session_runs_as_written(tmp_path: Path) -> None:
    text = (DOCS / "cli.md").read_text()
    session = text[text.index("## A session") : text.index("## Commands")]
    (tmp_path / "shop.py").write_text(_blocks(session, "python")[0])
    lines = [line for line in _blocks(session, "sh")[0].splitlines() if line.strip()]
    env = {**os.environ, "DURABLY_STORE": f"sqlite:///{tmp_path / 'orders.db'}"}
    worker_args = shlex.split(lines[0].split("&")[0])
    assert worker_args[:2] == ["durably", "worker"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "durably.cli", *worker_args[1:]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        outputs = {}
        for line in lines[1:]:
            if line.startswith("kill"):
                continue
            if line.startswith("durably status"):  # let the worker finish the order first
                with durably.Client(env["DURABLY_STORE"]) as client:
                    client.wait_for_completion("order-7", timeout=60)
            result = _durably(line, tmp_path, env)
            assert result.returncode == 0, (line, result.stderr)
            outputs[line.split()[1]] = result.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert "Completed" in outputs["status"] and "order-7 charged" in outputs["status"]
    history = json.loads(outputs["history"])
    assert history[-1]["EventType"] == "ExecutionCompleted"
