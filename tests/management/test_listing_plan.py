"""Listing a page walks an index in page order: no table scan, no sort (SQLite's plan).

The statement is the one the backend really runs, captured from its read connection
(the one private attribute a test here touches), then explained with
``EXPLAIN QUERY PLAN``. ``python -m benchmarks.listing`` times the same listings on
1,000,000 instances; docs/management.md quotes a run.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from typing import Any

import pytest

import durably
from durably.backends.sqlite import SqliteBackend

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "no filter": ({}, "durably_instances_created (task_hub=?)"),
    "one status": (
        {"runtime_status": "Running"},
        "durably_instances_status (task_hub=? AND runtime_status=?)",
    ),
    "name": ({"name": "idle"}, "durably_instances_name (task_hub=? AND name=?)"),
    "created from": (
        {"created_time_from": _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)},
        "durably_instances_created (task_hub=? AND created_time>?)",
    ),
    "two statuses": ({"runtime_status": ["Running", "Failed"]}, "durably_instances_created"),
    "id prefix": ({"instance_id_prefix": "i-01"}, "durably_instances_created"),
}


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    backend = SqliteBackend(tmp_path_factory.mktemp("plan") / "plan.db")
    client = durably.Client(backend)
    for n in range(250):
        client.start_new("idle", f"i-{n:03d}")
    reader: sqlite3.Connection = backend._reader()
    statements: list[str] = []
    reader.set_trace_callback(statements.append)

    def plan(**filters: Any) -> tuple[durably.InstancePage, list[str]]:
        statements.clear()
        page = client.list_instances(**filters, page_size=100)
        sql = next(s for s in statements if "FROM durably_instances" in s)
        rows = reader.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        return page, [str(row[-1]) for row in rows]

    yield plan
    backend.close()


@pytest.mark.parametrize(("filters", "index"), CASES.values(), ids=CASES.keys())
def test_a_page_of_instances_is_read_through_an_index_in_order(
    listed: Any, filters: dict[str, Any], index: str
) -> None:
    _, plan = listed(**filters)
    # One step: a search of the index (no "SCAN" of the table, no "USE TEMP B-TREE" sort).
    assert len(plan) == 1, plan
    assert plan[0].startswith(f"SEARCH durably_instances USING INDEX {index}"), plan


def test_the_next_page_starts_at_the_token_in_the_index(listed: Any) -> None:
    first, _ = listed()
    second, plan = listed(continuation_token=first.continuation_token)
    # The token is a position in the index: the search starts there, skipping nothing.
    assert len(plan) == 1, plan
    prefix = "SEARCH durably_instances USING INDEX durably_instances_created (task_hub=? AND "
    assert plan[0].startswith(prefix), plan
    assert "created_time" in plan[0] and ">" in plan[0], plan
    assert second.instances[0].instance_id == "i-100"
