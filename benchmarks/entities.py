"""Entity operations per second against the same counting written as orchestrations that
read-modify-write a row: ``python -m benchmarks.entities [--increments N] [--store URL]``.

The workload: N increments, sent by 20 orchestrations (N/20 each), to one counter or
spread over 100 counters. As entities, each orchestration signals its increments to
``counter`` entities (no waiting) and the entities apply them in batches. As
orchestrations, each one fans out N/20 activities, and each activity reads a counter row
and writes it back in its own transaction (``BEGIN IMMEDIATE``) in a SQLite file beside
the store. The figure is increments applied per second, from the first start until every
counter holds its total. Results go to ``benchmarks/results/entities.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import durably
from durably import EntityContext, EntityId

RESULTS = Path(__file__).resolve().parent / "results"
SENDERS = 20
app = durably.App()
COUNTERS_FILE: Path | None = None


@app.entity
def counter(ctx: EntityContext) -> None:
    ctx.set_state(ctx.get_state(lambda: 0) + 1)


@app.orchestrator
def send_signals(context: durably.OrchestrationContext) -> Any:
    count, keys = context.get_input()
    start = int(context.instance_id.rsplit("-", 1)[1]) * count
    for n in range(start, start + count):
        context.signal_entity(EntityId("counter", str(n % keys)), "add")
    return count
    yield


@app.activity
def increment_row(key: str) -> None:
    assert COUNTERS_FILE is not None
    connection = sqlite3.connect(COUNTERS_FILE, timeout=60, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        (value,) = connection.execute("SELECT v FROM counters WHERE k = ?", (key,)).fetchone()
        connection.execute("UPDATE counters SET v = ? WHERE k = ?", (value + 1, key))
        connection.execute("COMMIT")
    finally:
        connection.close()


@app.orchestrator
def increment_rows(context: durably.OrchestrationContext) -> Any:
    count, keys = context.get_input()
    start = int(context.instance_id.rsplit("-", 1)[1]) * count
    yield context.task_all(
        [context.call_activity(increment_row, str(n % keys)) for n in range(start, start + count)]
    )
    return count


def run_entities(store: str, increments: int, keys: int) -> float:
    per_sender = increments // SENDERS
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        started = time.perf_counter()
        for s in range(SENDERS):
            client.start_new("send_signals", f"e{keys}-{s}", [per_sender, keys])
        want = per_sender * SENDERS // keys
        pending = {str(k) for k in range(keys)}
        while pending:
            pending = {
                k
                for k in pending
                if client.read_entity_state(EntityId("counter", k)).entity_state != want
            }
            time.sleep(0.005)
        return per_sender * SENDERS / (time.perf_counter() - started)


def run_rows(store: str, increments: int, keys: int, scratch: Path) -> float:
    global COUNTERS_FILE
    COUNTERS_FILE = scratch / f"counters-{keys}.db"
    with sqlite3.connect(COUNTERS_FILE) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE counters (k TEXT PRIMARY KEY, v INTEGER)")
        connection.executemany(
            "INSERT INTO counters VALUES (?, 0)", [(str(k),) for k in range(keys)]
        )
    per_sender = increments // SENDERS
    with durably.Worker(app, store=store, activity_concurrency=8) as worker:
        client = worker.client()
        started = time.perf_counter()
        ids = [
            client.start_new("increment_rows", f"r{keys}-{s}", [per_sender, keys])
            for s in range(SENDERS)
        ]
        for instance_id in ids:
            client.wait_for_completion(instance_id, timeout=600)
        elapsed = time.perf_counter() - started
    with sqlite3.connect(COUNTERS_FILE) as connection:
        (total,) = connection.execute("SELECT sum(v) FROM counters").fetchone()
    assert total == per_sender * SENDERS, total
    return per_sender * SENDERS / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--increments", type=int, default=4000)
    parser.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        for keys in (1, 100):
            for form in ("entities", "orchestrations"):
                store = args.store or f"sqlite:///{scratch / f'{form}-{keys}.db'}"
                if form == "entities":
                    rate = run_entities(store, args.increments, keys)
                else:
                    rate = run_rows(store, args.increments, keys, scratch)
                rows.append({"counters": keys, "form": form, "increments_per_s": round(rate, 1)})
                print(f"{keys:>3} counter(s), {form}: {rate:,.0f} increments/s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "entities.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = ["| counters | as entities (increments/s) | as orchestrations (increments/s) | ratio |"]
    table.append("|---:|---:|---:|---:|")
    for keys in (1, 100):
        e = next(r for r in rows if r["counters"] == keys and r["form"] == "entities")
        o = next(r for r in rows if r["counters"] == keys and r["form"] == "orchestrations")
        ratio = e["increments_per_s"] / o["increments_per_s"]
        table.append(
            f"| {keys} | {e['increments_per_s']:,} | {o['increments_per_s']:,} | {ratio:.1f}x |"
        )
    command = f"python -m benchmarks.entities --increments {args.increments}"
    text = "# Entity operations against read-modify-write orchestrations\n\n"
    text += f"{args.increments:,} increments from {SENDERS} orchestrations, SQLite."
    text += f" Command: `{command}`.\n\n"
    (args.out / "entities.md").write_text(text + "\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
