"""Listing 100 of 1,000,000 instances: query plans and timings on SQLite.

``python -m benchmarks.listing [--rows 1000000] [--store-path listing.db]`` fills a store
with finished and running instances (rows inserted directly, in bulk), then times
``Client.list_instances`` for each filter, on the first page and on a deep page, and
prints SQLite's ``EXPLAIN QUERY PLAN`` for the statement the backend ran. docs/management.md
quotes a run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from durably import Client
from durably.backends.sqlite import SqliteBackend
from durably.status import InstancePage

_STATUSES = ("Completed", "Completed", "Completed", "Failed", "Running", "Terminated")
_NAMES = ("fulfil_order", "ship_order", "nightly_report", "sign_up")
_T0 = 1_700_000_000_000_000  # microseconds since the epoch


def fill(path: str, rows: int) -> None:
    """Create the schema through the backend, then bulk-insert ``rows`` instances."""
    SqliteBackend(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO durably_instances (task_hub, instance_id, name, execution_id,"
        " runtime_status, input, created_time, last_updated_time, history_length)"
        " VALUES ('default', ?, ?, 'e', ?, 'null', ?, ?, 10)",
        (
            (f"{n:08x}-{n % 97:02d}", _NAMES[n % 4], _STATUSES[n % 6], _T0 + n, _T0 + n)
            for n in range(rows)
        ),
    )
    connection.execute("COMMIT")
    connection.close()


def timed(label: str, call: Callable[[], InstancePage], plans: list[str]) -> InstancePage:
    start = time.perf_counter()
    page = call()
    elapsed = (time.perf_counter() - start) * 1000
    plan = plans[-1] if plans else "?"
    print(f"{label:<44} {len(page.instances):>4} rows {elapsed:8.2f} ms   {plan}")
    return page


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--store-path", default="listing-benchmark.db")
    args = parser.parse_args(argv)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.store_path + suffix):
            os.remove(args.store_path + suffix)
    start = time.perf_counter()
    fill(args.store_path, args.rows)
    print(f"filled {args.rows} instances in {time.perf_counter() - start:.1f} s")
    backend = SqliteBackend(args.store_path)
    plans: list[str] = []
    reader = backend._reader()  # the calling thread's read connection

    def trace(sql: str) -> None:
        if sql.startswith("SELECT") and "FROM durably_instances" in sql:
            rows = reader.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            plans.append("; ".join(str(row[-1]) for row in rows))

    reader.set_trace_callback(trace)
    client = Client(backend)
    middle = _dt.datetime.fromtimestamp((_T0 + args.rows // 2) / 1e6, _dt.UTC)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("no filter", {}),
        ("status Running", {"runtime_status": "Running"}),
        ("status Failed or Terminated", {"runtime_status": ["Failed", "Terminated"]}),
        ("name sign_up", {"name": "sign_up"}),
        ("created after the middle", {"created_time_from": middle}),
        ("id prefix 0007a", {"instance_id_prefix": "0007a"}),
    ]
    for label, filters in cases:
        page = timed(f"{label}, page 1", lambda f=filters: client.list_instances(**f), plans)
        for _ in range(3):  # walk to page 5 to show that deep pages cost the same
            token = page.continuation_token
            page = client.list_instances(**filters, continuation_token=token)
        token = page.continuation_token
        timed(
            f"{label}, page 5",
            lambda f=filters, t=token: client.list_instances(**f, continuation_token=t),
            plans,
        )
    backend.close()


if __name__ == "__main__":
    main()
