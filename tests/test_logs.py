"""Log fields: every durably record about an instance carries its instance id, execution
id and function name; so does an orchestrator's context.logger (silent in replay);
--log-format json writes one object per line with them; no line per step at INFO."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import durably
from durably.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[1]
app = durably.App()


@app.activity
def refuse(order: str) -> str:
    raise RuntimeError(f"cannot ship {order}")


@app.activity
def note(order: str) -> str:
    return order


@app.orchestrator
def ship(context: durably.OrchestrationContext) -> Any:
    context.logger.info("shipping %s", context.get_input())
    yield context.call_activity(note, context.get_input())
    context.logger.info("noted %s", context.get_input())
    return (yield context.call_activity(refuse, context.get_input()))


def test_records_about_an_instance_carry_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="durably")
    with durably.Worker(app, store="memory://logs", poll_interval=0.02) as worker:
        client = worker.client()
        instance_id = client.start_new(ship, "order-9", "order-9")
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.runtime_status == "Failed"
    worker_records = [r for r in caplog.records if r.name == "durably.worker"]
    activity = next(r for r in worker_records if "activity refuse" in r.getMessage())
    assert (activity.instance_id, activity.function_name) == ("order-9", "refuse")  # type: ignore[attr-defined]
    assert activity.execution_id  # type: ignore[attr-defined]
    failed = next(r for r in worker_records if "orchestration ship" in r.getMessage())
    assert (failed.instance_id, failed.function_name) == ("order-9", "ship")  # type: ignore[attr-defined]
    assert failed.execution_id == activity.execution_id  # type: ignore[attr-defined]
    own = [r for r in caplog.records if r.name == "durably.orchestrator.ship"]
    # Each line once, although the orchestrator replayed its history in later episodes.
    assert [r.getMessage() for r in own] == ["shipping order-9", "noted order-9"]
    assert all(r.instance_id == "order-9" for r in own)  # type: ignore[attr-defined]
    assert all(r.function_name == "ship" for r in own)  # type: ignore[attr-defined]
    # Nothing per step at INFO from durably itself.
    assert not [r for r in worker_records if r.levelno == logging.INFO]


def test_the_json_format_has_the_fields() -> None:
    record = logging.LogRecord("durably.worker", logging.WARNING, __file__, 1, "x %s", ("y",), None)
    record.instance_id, record.execution_id, record.function_name = "i", "e", "f"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "x y" and line["level"] == "WARNING"
    assert (line["instance_id"], line["execution_id"], line["function_name"]) == ("i", "e", "f")


def test_the_worker_command_logs_json_lines(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'logs.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = ["worker", "tests.test_logs:app", "--store", store, "--log-format", "json"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "durably.cli", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with durably.Client(store) as client:
            client.start_new("ship", "order-json", "order-json")
            deadline = time.monotonic() + 30
            while (client.get_status("order-json") or client).runtime_status != "Failed":  # type: ignore[union-attr]
                assert time.monotonic() < deadline and worker.poll() is None
                time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    failed = [
        line
        for line in lines
        if line["logger"] == "durably.worker" and line.get("function_name") == "ship"
    ]
    assert failed and failed[0]["instance_id"] == "order-json" and failed[0]["execution_id"]
