"""Worker apps run as real processes (kill -9 and scale-out tests): each test app module
prints "worker ready" once its worker runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_app(module: str, *args: str) -> subprocess.Popen[str]:
    """``python -m module args...`` from the repository root, stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_ready(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
    """Block until the app says its worker runs; returns ``process``."""
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "worker ready"
    return process


def spawn_ready(module: str, *args: str) -> subprocess.Popen[str]:
    """A worker app started and running."""
    return wait_ready(start_app(module, *args))
