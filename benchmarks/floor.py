"""The floor of the sequential workloads: the same durable commits with no framework.

``python -m benchmarks.floor [--samples 300] [--steps 2000]`` measures, on a fresh store
with durably's schema (SQLite WAL + synchronous=FULL; PostgreSQL too when
``DURABLY_TEST_POSTGRES`` is set):

* **latency floor**: a 1-activity orchestration's two commits written by hand (the
  instance, its history row and its claimed activity; then the instance's final row, a
  history row and the activity's deletion), with the activity (``x + 1``) run on a
  second thread in between, as durably does;
* **step floor**: one chain step by hand (the instance row, a history row, the next
  activity's row, one commit) in a loop on one thread;

and durably's own latency p50 and time per step (a long chain) in the same process, so
that the difference is what durably's Python costs. Results go to
``benchmarks/results/<date>-floor.md`` and ``.json``; docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import durably
from benchmarks import machine
from benchmarks.durably_child import app
from benchmarks.stores import SCRATCH, recreate_pg_database, remove_sqlite
from durably.backends.sql import statements as q

RESULTS = Path(__file__).resolve().parent / "results"
_EVENTS = json.dumps(
    [
        {"EventType": "OrchestratorStarted", "Timestamp": "2026-12-01T12:00:00.123456Z"},
        {"EventType": "TaskCompleted", "Result": "2", "TaskScheduledId": 3},
        {"EventType": "TaskScheduled", "EventId": 4, "Name": "add_one", "Input": "2"},
        {"EventType": "OrchestratorCompleted", "Timestamp": "2026-12-01T12:00:00.123456Z"},
    ],
    separators=(",", ":"),
)
"""A history row of the size one step appends (four events)."""


class Hand:
    """Transactions written by hand on one connection: ``transaction(statements)``."""

    def __init__(self, transaction: Callable[[list[tuple[str, tuple[Any, ...]]]], list[Any]]):
        self.transaction = transaction

    def create(self, instance_id: str, now: int) -> int:
        """Commit 1 of a latency sample; the claimed activity's id."""
        (_, _, rows) = self.transaction(
            [
                (_INSERT_INSTANCE, ("default", instance_id, "one_step", "e", "Running", now, now)),
                (q.INSERT_HISTORY, ("default", instance_id, 0, _EVENTS)),
                (_INSERT_ACTIVITY, ("default", instance_id, now + 60_000_000)),
            ]
        )
        return int(rows[0][0])

    def finish(self, instance_id: str, activity_id: int, now: int) -> None:
        """Commit 2 of a latency sample."""
        self.transaction(
            [
                (_FINISH_INSTANCE, ("2", now, "default", instance_id)),
                (q.INSERT_HISTORY, ("default", instance_id, 4, _EVENTS)),
                (q.DELETE_ACTIVITY, ("default", activity_id)),
            ]
        )

    def step(self, instance_id: str, activity_id: int, n: int, now: int) -> None:
        """One chain step: one commit."""
        self.transaction(
            [
                (_STEP_INSTANCE, (now, 4 * n + 4, "default", instance_id)),
                (q.INSERT_HISTORY, ("default", instance_id, 4 * n + 4, _EVENTS)),
                (_REUSE_ACTIVITY, (n, str(n), now + 60_000_000, activity_id)),
            ]
        )


_INSERT_INSTANCE = (
    "INSERT INTO durably_instances (task_hub, instance_id, name, execution_id,"
    " runtime_status, input, created_time, last_updated_time, history_length)"
    " VALUES (?, ?, ?, ?, ?, '1', ?, ?, 4)"
)
_INSERT_ACTIVITY = (
    "INSERT INTO durably_activities (task_hub, instance_id, execution_id, task_id, name,"
    " input, visible_at, lock_owner, lock_token, lock_expires, dequeue_count)"
    " VALUES (?, ?, 'e', 0, 'add_one', '1', ?, 'me', 'token', 0, 1) RETURNING id"
)
_FINISH_INSTANCE = (
    "UPDATE durably_instances SET runtime_status = 'Completed', output = ?,"
    " last_updated_time = ?, history_length = 8 WHERE task_hub = ? AND instance_id = ?"
)
_STEP_INSTANCE = (
    "UPDATE durably_instances SET last_updated_time = ?, history_length = ?"
    " WHERE task_hub = ? AND instance_id = ?"
)
_REUSE_ACTIVITY = (
    "UPDATE durably_activities SET task_id = ?, input = ?, visible_at = ? WHERE id = ?"
)


def sqlite_hand(path: Path) -> tuple[Hand, Callable[[], None]]:
    durably.Client(f"sqlite:///{path}").close()  # durably's schema, WAL
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA synchronous=FULL")
    lock = threading.Lock()

    def transaction(statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        with lock:
            connection.execute("BEGIN IMMEDIATE")
            out = [connection.execute(sql, params).fetchall() for sql, params in statements]
            connection.execute("COMMIT")
            return out

    return Hand(transaction), connection.close


def postgres_hand(url: str) -> tuple[Hand, Callable[[], None]]:
    import psycopg

    durably.Client(url).close()  # durably's schema
    connection = psycopg.connect(url, autocommit=True)
    lock = threading.Lock()

    def transaction(statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        # One pipeline: BEGIN, the statements and COMMIT in one round trip, as durably.
        with lock, connection.pipeline() as pipeline:
            cursors = [connection.cursor() for _ in statements]
            connection.execute("BEGIN")
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql.replace("?", "%s"), params)
            connection.execute("COMMIT")
            pipeline.sync()
            return [c.fetchall() if c.description else [] for c in cursors]

    return Hand(transaction), connection.close


def hand_latency(hand: Hand, samples: int) -> float:
    """p50 (ms) of the two commits and the hand-off to a second thread and back."""
    work: queue.SimpleQueue[tuple[str, int, int] | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[int] = queue.SimpleQueue()

    def activity_thread() -> None:
        while (item := work.get()) is not None:
            instance_id, activity_id, x = item
            hand.finish(instance_id, activity_id, time.time_ns() // 1000)
            done.put(x + 1)

    thread = threading.Thread(target=activity_thread, daemon=True)
    thread.start()
    times = []
    for i in range(samples + 20):
        t0 = time.perf_counter()
        instance_id = uuid.uuid4().hex
        activity_id = hand.create(instance_id, time.time_ns() // 1000)
        work.put((instance_id, activity_id, i))
        assert done.get() == i + 1
        times.append(time.perf_counter() - t0)
    work.put(None)
    thread.join()
    return statistics.median(times[20:]) * 1e3


def hand_step(hand: Hand, steps: int) -> float:
    """Milliseconds per chain step by hand."""
    instance_id = uuid.uuid4().hex
    activity_id = hand.create(instance_id, time.time_ns() // 1000)
    t0 = time.perf_counter()
    for n in range(steps):
        hand.step(instance_id, activity_id, n, time.time_ns() // 1000)
    return (time.perf_counter() - t0) / steps * 1e3


def durably_figures(url: str, samples: int, steps: int) -> dict[str, float]:
    """durably's latency p50 (ms) and time per step (ms, one long chain) on ``url``."""
    with durably.Worker(app, store=url) as worker:
        client = worker.client()
        times = []
        for i in range(samples + 20):
            t0 = time.perf_counter()
            status = client.wait_for_completion(client.start_new("one_step", client_input=i))
            times.append(time.perf_counter() - t0)
            assert status.output == i + 1
        t0 = time.perf_counter()
        status = client.wait_for_completion(client.start_new("chain", client_input=[0, steps]))
        per_step = (time.perf_counter() - t0) / steps * 1e3
        assert status.output == steps
    return {"latency_p50_ms": statistics.median(times[20:]) * 1e3, "step_ms": per_step}


def measure(store: str, samples: int, steps: int) -> dict[str, Any]:
    if store == "sqlite":
        SCRATCH.mkdir(exist_ok=True)
        paths = [SCRATCH / "floor-hand.db", SCRATCH / "floor-durably.db"]
        for path in paths:
            remove_sqlite(path)
        hand, close = sqlite_hand(paths[0])
        url = f"sqlite:///{paths[1]}"
    else:
        url = recreate_pg_database(os.environ["DURABLY_TEST_POSTGRES"], "durably_floor")
        hand, close = postgres_hand(url)
    try:
        floor = {"latency_p50_ms": hand_latency(hand, samples), "step_ms": hand_step(hand, steps)}
    finally:
        close()
    ours = durably_figures(url, samples, steps)
    if store == "sqlite":
        for path in paths:
            remove_sqlite(path)
    return {"floor": floor, "durably": ours}


def markdown(doc: dict[str, Any]) -> str:
    info = doc["machine"]
    lines = [
        f"# The floor of the sequential workloads, {info['date'][:10]}",
        "",
        f"- **Machine**: {info['cores']} cores ({info['cpu']}); Python {info['python']},"
        f" SQLite {info['sqlite']}; durably {info['durably']} ({info['durably_commit']})",
        "- **Durability**: SQLite WAL, synchronous=FULL; PostgreSQL as the server is set",
        f"- **Command**: `python -m benchmarks.floor --samples {doc['samples']}"
        f" --steps {doc['steps']}`",
        "",
        "| store | figure | by hand (no framework) | durably | durably's own share |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for store, result in doc["stores"].items():
        for key, label in (("latency_p50_ms", "latency p50 (ms)"), ("step_ms", "one step (ms)")):
            floor, ours = result["floor"][key], result["durably"][key]
            lines.append(f"| {store} | {label} | {floor:.3f} | {ours:.3f} | {ours - floor:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    stores = ["sqlite"] + (["postgres"] if os.environ.get("DURABLY_TEST_POSTGRES") else [])
    doc: dict[str, Any] = {"machine": machine.describe(), "samples": args.samples}
    doc["steps"] = args.steps
    doc["stores"] = {}
    for store in stores:
        print(f"measuring {store} ...", flush=True)
        doc["stores"][store] = measure(store, args.samples, args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{doc['machine']['date'][:10]}-floor"
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(doc)
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
