"""Processes opening one new SQLite store at the same moment all succeed (turning a new
file to WAL mode takes a lock SQLite's busy handler does not wait for)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OPEN = """
import sys, time
from durably.backends.sqlite import SqliteBackend
go = float(sys.argv[2])
while time.time() < go:
    pass
SqliteBackend(sys.argv[1]).close()
"""


def test_processes_opening_a_new_store_together_all_succeed(tmp_path: Path) -> None:
    for attempt in range(8):
        path = tmp_path / f"store-{attempt}.db"
        go = time.time() + 0.5  # every process is up and spinning by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, str(path), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
