"""Run `durably` as a user does: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_MODULE = Path(__file__).with_name("examples_module.py")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def durably_command(
    *args: str, store: str | None = None, cwd: Path | None = None, timeout: float = 60
) -> Result:
    """Run ``durably ARGS`` (with ``--store`` through DURABLY_STORE when given)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    if store is not None:
        env["DURABLY_STORE"] = store
    completed = subprocess.run(
        [sys.executable, "-m", "durably.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=timeout,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def assert_one_line_error(result: Result, code: int, text: str) -> None:
    """A user error: the exit code, one line on stderr naming the problem, no traceback."""
    assert result.code == code, result
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert any(text in line for line in lines), result.err
    assert len([line for line in lines if line.startswith("Error")]) == 1, result.err
