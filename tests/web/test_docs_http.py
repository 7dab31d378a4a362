"""docs/http-api.md as written: its curl session runs against `durably serve` and prints
what the page shows, and its reference is what the OpenAPI document says today."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durably.http.reference import reference

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "http-api.md"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_reference_is_current() -> None:
    text = DOC.read_text()
    between = text.split("<!-- reference:start -->\n")[1].split("<!-- reference:end -->")[0]
    assert between == reference(), "run: python -m durably.http.reference (docs/http-api.md)"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_session_runs_as_written(tmp_path: Path) -> None:
    text = DOC.read_text()
    session = text[text.index("## The async HTTP pattern") : text.index("## Status codes")]
    (tmp_path / "report.py").write_text(_blocks(session, "python")[0])
    lines = [line for line in _blocks(session, "sh")[0].splitlines() if line.strip()]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = lines[0].split(" &")[0].replace("7071", str(port)).split()
    assert serve[:2] == ["durably", "serve"]
    env = {**os.environ, "DURABLY_STORE": f"sqlite:///{tmp_path / 'report.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "durably.cli", *serve[1:]],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        commands = [(line, []) for line in lines[1:] if not line.startswith("#")]
        expected: list[tuple[str, list[str]]] = []
        for line in lines[1:]:
            if line.startswith("#"):
                expected[-1][1].append(line[2:])
            else:
                expected.append((line, []))
        assert len(expected) == len(commands) == 4
        _wait_until_up(port, server)
        outputs = []
        for command, shown in expected:
            command = command.replace("7071", str(port))
            if "instances/report-1" in command and "raiseEvent" not in command and outputs:
                _wait_for(port, "Completed" if len(outputs) == 3 else "Running", rendered=3)
            run = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=30, cwd=tmp_path
            )
            assert run.returncode == 0, (command, run.stderr)
            outputs.append(run.stdout)
            _matches(run.stdout, shown, port)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


def _wait_until_up(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, "durably serve never listened"
        time.sleep(0.1)


def _wait_for(port: int, status: str, rendered: int) -> None:
    import httpx

    url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances/report-1"
    deadline = time.monotonic() + 30
    while True:
        body = httpx.get(url).json()
        done = (body.get("customStatus") or {}).get("rendered") == rendered
        if body["runtimeStatus"] == status and done:
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def _matches(output: str, shown: list[str], port: int) -> None:
    """Each line the doc shows is in the output (``...`` stands for what it leaves out)."""
    for line in shown:
        line = line.replace("7071", str(port))
        if line.startswith("{"):
            body = json.loads(output)
            for key, value in re.findall(r'"(\w+)":("[^"]*"|\d+)', line):
                if key in body and not isinstance(body[key], dict | list):
                    assert json.dumps(body[key]) == value, (key, body[key], value)
            for key in ("customStatus", "output"):
                shown_value = re.search(rf'"{key}":(\{{.*?\}}),(?:"|\.\.\.)', line)
                if shown_value:
                    assert body[key] == json.loads(shown_value.group(1)), (key, body[key])
        else:
            assert line.lower() in output.lower().replace("\r", ""), (line, output)
