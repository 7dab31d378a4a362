"""How many times a large payload is stored: the SQLite file after one instance.

``python -m benchmarks.payload_copies [--mib 10]`` runs three orchestrations, each on a
fresh SQLite file, with an input of ``--mib`` MiB (``max_payload_bytes`` raised to fit):
one that only reads its input, one that passes it to an activity returning its length,
and one whose activity returns it whole. After each it checkpoints the WAL and prints
the file's size, the live bytes of each table and the free pages (space the file keeps
for reuse: copies written and deleted on the way).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import durably
from durably.backends import open_backend

app = durably.App(max_payload_bytes=64 * 2**20)


@app.activity
def size(text: str) -> int:
    return len(text)


@app.activity
def echo(text: str) -> str:
    return text


@app.orchestrator
def only_input(context: durably.OrchestrationContext) -> Any:
    return len(context.get_input())
    yield


@app.orchestrator
def to_activity(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(size, context.get_input()))


@app.orchestrator
def round_trip(context: durably.OrchestrationContext) -> Any:
    return len((yield context.call_activity(echo, context.get_input())))


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def measure(orchestrator: Callable[..., Any], payload: str, path: Path) -> str:
    store = open_backend(f"sqlite:///{path}")
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(orchestrator, client_input=payload)
        status = client.wait_for_completion(instance_id, timeout=120)
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    live = {}
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        total = sum(
            db.execute(
                f"SELECT COALESCE(SUM(LENGTH(CAST({c} AS BLOB))), 0) FROM {table}"
            ).fetchone()[0]
            for c in columns
        )
        if total > 2**16:
            live[table] = _mib(total)
    pages = db.execute("PRAGMA freelist_count").fetchone()[0]
    free = pages * db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    return (
        f"| {orchestrator.__name__} | {status.runtime_status} | {_mib(path.stat().st_size)} |"
        f" {', '.join(f'{t} {m}' for t, m in live.items())} | {_mib(free)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.payload_copies")
    parser.add_argument("--mib", type=float, default=10.0)
    args = parser.parse_args()
    payload = "x" * int(args.mib * 2**20)
    print(f"input of {args.mib} MiB; sizes in MiB")
    print("| orchestration | status | file | live, by table | free pages |")
    print("|---|---|---:|---|---:|")
    with tempfile.TemporaryDirectory() as directory:
        for orchestrator in (only_input, to_activity, round_trip):
            print(measure(orchestrator, payload, Path(directory) / f"{orchestrator.__name__}.db"))


if __name__ == "__main__":
    main()
