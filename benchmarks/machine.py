"""What the figures were measured on: the machine, the versions and the disk's commit rate.

The disk drifts (WORKLOADS.md saw 1.8x within an hour), so every run also measures the
machine's own limit, single-row SQLite WAL commits per second with synchronous=FULL, before
and after the workloads, as ``shared/peers/sqlite_limit.py`` does.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.stores import SCRATCH, remove_sqlite

ANCHOR_COMMITS = 2000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The short commit of the checkout, with ``+dirty`` if ``src/`` has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True,
            text=True,
            cwd=root,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def describe() -> dict[str, Any]:
    import durably

    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "durably": durably.__version__,
        "durably_commit": git_commit(),
    }


def commit_rate(synchronous: str = "FULL", commits: int = ANCHOR_COMMITS) -> float:
    """Single-row WAL transactions per second on the scratch disk."""
    SCRATCH.mkdir(exist_ok=True)
    path = SCRATCH / "anchor.db"
    remove_sqlite(path)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        payload = b"p" * 100
        t0 = time.perf_counter()
        for _ in range(commits):
            connection.execute("BEGIN")
            connection.execute("INSERT INTO t(payload) VALUES (?)", (payload,))
            connection.execute("COMMIT")
        return commits / (time.perf_counter() - t0)
    finally:
        connection.close()
        remove_sqlite(path)


def pg_commit_rate(url: str, commits: int = ANCHOR_COMMITS) -> float:
    """Single-row PostgreSQL transactions per second on one connection (the server's
    durability settings apply)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TEMPORARY TABLE anchor_t(id BIGSERIAL PRIMARY KEY, p BYTEA)")
        payload = b"p" * 100
        t0 = time.perf_counter()
        for _ in range(commits):
            with connection.transaction():
                connection.execute("INSERT INTO anchor_t(p) VALUES (%s)", (payload,))
        return commits / (time.perf_counter() - t0)
