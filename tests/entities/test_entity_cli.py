"""`durably entity get|signal|list` against a store a worker serves."""

from __future__ import annotations

import json
import time
from pathlib import Path

import durably
from tests.cli.helpers import assert_one_line_error, durably_command

from .app import app


def test_signal_get_and_list_from_a_shell(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    with durably.Worker(app, store=store, poll_interval=0.02):
        signalled = durably_command("entity", "signal", "counter", "k1", "add", "5", store=store)
        assert signalled.code == 0 and "signalled add to @counter@k1" in signalled.out
        durably_command("entity", "signal", "account", "a", "deposit", "7", store=store)
        deadline = time.monotonic() + 30
        while (got := durably_command("entity", "get", "counter", "k1", store=store)).code:
            assert time.monotonic() < deadline, got.err
            time.sleep(0.05)
        assert json.loads(got.out) == 5
        while not durably_command("entity", "get", "account", "a", store=store).out:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    listed = durably_command("entity", "list", "--json", store=store)
    rows = {(r["name"], r["key"]): r for r in json.loads(listed.out)}
    assert rows[("counter", "k1")]["state"] == 5
    assert rows[("account", "a")]["state"] == {"balance": 7}
    only = json.loads(durably_command("entity", "list", "account", "--json", store=store).out)
    assert [r["key"] for r in only] == ["a"]
    table = durably_command("entity", "list", store=store)
    assert "counter" in table.out and "k1" in table.out
    missing = durably_command("entity", "get", "counter", "nobody", store=store)
    assert_one_line_error(missing, 1, "entity @counter@nobody does not exist")
    durably_command("entity", "signal", "counter", "k1", "delete", store=store)
    with durably.Worker(app, store=store, poll_interval=0.02):
        while durably_command("entity", "get", "counter", "k1", store=store).code == 0:
            time.sleep(0.05)
    purged = durably_command("entity", "purge", "counter", store=store)
    assert purged.code == 0 and "purged 1 entity" in purged.out
    bad = durably_command("entity", "signal", "a@b", "k", "add", store=store)
    assert_one_line_error(bad, 2, "must not contain '@'")
