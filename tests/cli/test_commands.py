"""Every `durably` command, driven as a subprocess against a SQLite store.

A worker runs in the test process on the same store; the commands run in their own
processes, as a user's shell would run them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import durably

from .examples_module import app
from .helpers import assert_one_line_error, durably_command

Status = durably.OrchestrationRuntimeStatus


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def client(store: str) -> Iterator[durably.Client]:
    with durably.Worker(app, store=store, poll_interval=0.02) as worker:
        yield worker.client()


def _wait_for(client: durably.Client, instance_id: str, *wanted: Status) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get_status(instance_id)
        if status is not None and status.runtime_status in wanted:
            return status
        time.sleep(0.02)
    raise AssertionError(f"{instance_id} never became one of {wanted}")


def test_start_prints_the_id_and_wait_prints_the_outcome(
    store: str, client: durably.Client
) -> None:
    started = durably_command("start", "hello", "--input", '"Ada"', "--id", "h1", store=store)
    assert (started.code, started.out.strip()) == (0, "h1")
    waited = durably_command("start", "hello", "--input", '"Bo"', "--wait", store=store)
    assert waited.code == 0, waited
    assert "Completed" in waited.out and "Hello Bo!" in waited.out
    assert client.wait_for_completion("h1", timeout=30).output == "Hello Ada!"


def test_start_wait_exits_1_when_the_instance_fails(store: str, client: durably.Client) -> None:
    result = durably_command("start", "broken", "--input", '"kaboom"', "--wait", store=store)
    assert result.code == 1, result
    assert "Failed" in result.out and "kaboom" in result.out


def test_status_shows_an_instance_and_its_history(store: str, client: durably.Client) -> None:
    client.start_new("hello", "s1", "Cy")
    client.wait_for_completion("s1", timeout=30)
    shown = durably_command("status", "s1", store=store)
    assert shown.code == 0
    assert "Completed" in shown.out and "Hello Cy!" in shown.out and "hello" in shown.out
    with_history = durably_command("status", "s1", "--history", store=store)
    for event_type in ("ExecutionStarted", "TaskScheduled", "TaskCompleted", "ExecutionCompleted"):
        assert event_type in with_history.out
    as_json = json.loads(durably_command("status", "s1", "--json", store=store).out)
    assert as_json["runtimeStatus"] == "Completed" and as_json["output"] == "Hello Cy!"


def test_list_filters_and_pages(store: str, client: durably.Client) -> None:
    for n in range(5):
        client.start_new("hello", f"list-{n}", str(n))
    client.start_new("approval", "waiting", "Di")
    for n in range(5):
        client.wait_for_completion(f"list-{n}", timeout=30)
    table = durably_command("list", store=store)
    assert table.code == 0 and all(f"list-{n}" in table.out for n in range(5))
    first = json.loads(durably_command("list", "--page-size", "2", "--json", store=store).out)
    assert [i["instanceId"] for i in first["instances"]] == ["list-0", "list-1"]
    token = first["continuationToken"]
    second = durably_command(
        "list", "--page-size", "2", "--continuation-token", token, "--json", store=store
    )
    assert [i["instanceId"] for i in json.loads(second.out)["instances"]] == ["list-2", "list-3"]
    paged = durably_command("list", "--page-size", "2", store=store)
    assert f"--continuation-token {token}" in paged.out
    by_name = json.loads(durably_command("list", "--name", "approval", "--json", store=store).out)
    assert [i["instanceId"] for i in by_name["instances"]] == ["waiting"]
    by_status = durably_command(
        "list", "--status", "completed", "--prefix", "list-", "--json", store=store
    )
    assert len(json.loads(by_status.out)["instances"]) == 5


def test_raise_delivers_event_data(store: str, client: durably.Client) -> None:
    client.start_new("approval", "r1", "Ed")
    _wait_for(client, "r1", Status.Running)
    result = durably_command("raise", "r1", "Approved", '{"by": "ops"}', store=store)
    assert result.code == 0, result
    assert client.wait_for_completion("r1", timeout=30).output == ["Hello Ed!", {"by": "ops"}]


def test_suspend_resume_and_terminate(store: str, client: durably.Client) -> None:
    client.start_new("approval", "t1", "Flo")
    _wait_for(client, "t1", Status.Running)
    assert durably_command("suspend", "t1", "--reason", "audit", store=store).code == 0
    _wait_for(client, "t1", Status.Suspended)
    assert "Suspended" in durably_command("status", "t1", store=store).out
    assert durably_command("resume", "t1", store=store).code == 0
    _wait_for(client, "t1", Status.Running)
    assert durably_command("terminate", "t1", "--reason", "done", store=store).code == 0
    assert client.wait_for_completion("t1", timeout=30).runtime_status is Status.Terminated
    again = durably_command("terminate", "t1", store=store)
    assert again.code == 0 and "already finished (Terminated)" in again.out
    refused = durably_command("suspend", "t1", store=store)
    assert_one_line_error(refused, 1, "cannot suspend instance 't1': it is Terminated")


def test_rewind_and_restart(store: str, client: durably.Client) -> None:
    client.start_new("hello", "ok", "Gus")
    client.wait_for_completion("ok", timeout=30)
    assert_one_line_error(
        durably_command("rewind", "ok", store=store),
        1,
        "cannot rewind instance 'ok': it is Completed",
    )
    restarted = durably_command("restart", "ok", "--new-id", "ok-again", store=store)
    assert (restarted.code, restarted.out.strip()) == (0, "ok-again")
    assert client.wait_for_completion("ok-again", timeout=30).output == "Hello Gus!"
    client.start_new("broken", "bad", "boom")
    client.wait_for_completion("bad", timeout=30)
    rewound = durably_command("rewind", "bad", "--reason", "try again", store=store)
    assert rewound.code == 0 and "rewind of bad requested" in rewound.out
    _wait_for(client, "bad", Status.Running, Status.Failed)


def test_purge_one_and_by_filter(store: str, client: durably.Client) -> None:
    client.start_new("hello", "p1", "Hal")
    client.start_new("hello", "p2", "Ivy")
    client.start_new("approval", "p3", "Jo")
    for instance_id in ("p1", "p2"):
        client.wait_for_completion(instance_id, timeout=30)
    assert durably_command("purge", "p1", store=store).out.strip() == "purged 1 instance(s)"
    assert client.get_status("p1") is None
    assert_one_line_error(durably_command("purge", "p3", store=store), 1, "cannot purge")
    by_status = durably_command("purge", "--status", "Completed", store=store)
    assert by_status.out.strip() == "purged 1 instance(s)"
    assert [s.instance_id for s in client.get_status_all()] == ["p3"]
    assert_one_line_error(durably_command("purge", store=store), 2, "give an ID")


def test_history_exports_json(store: str, client: durably.Client, tmp_path: Path) -> None:
    client.start_new("hello", "x1", "Kim")
    client.wait_for_completion("x1", timeout=30)
    exported = durably_command("history", "x1", "--json", store=store)
    events = json.loads(exported.out)
    assert [e["EventType"] for e in events] == [e.event_type for e in client.get_history("x1")]
    assert all({"EventType", "EventId", "Timestamp"} <= e.keys() for e in events)
    rebuilt = [durably.HistoryEvent.from_dict(e) for e in events]
    assert rebuilt == client.get_history("x1")
    target = tmp_path / "x1.json"
    written = durably_command("history", "x1", "--json", "-o", str(target), store=store)
    assert written.code == 0 and json.loads(target.read_text()) == events
    assert "TaskCompleted" in durably_command("history", "x1", store=store).out


@pytest.mark.parametrize(
    "args",
    [
        ("status", "ghost"),
        ("terminate", "ghost"),
        ("suspend", "ghost"),
        ("resume", "ghost"),
        ("rewind", "ghost"),
        ("restart", "ghost"),
        ("purge", "ghost"),
        ("raise", "ghost", "Approved"),
        ("history", "ghost", "--json"),
    ],
    ids=lambda args: args[0],
)
def test_unknown_instances_exit_1_with_one_line(store: str, args: tuple[str, ...]) -> None:
    result = durably_command(*args, store=store)
    assert_one_line_error(result, 1, "no orchestration instance with id 'ghost'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("start", "hello", "--input", "not json"), "--input must be JSON"),
        (("start", "hello", "--id", "a/b"), "must not contain"),
        (("raise", "x", "Approved", "{oops"), "DATA must be JSON"),
        (("list", "--status", "Sleeping"), "Invalid value for '--status'"),
        (("list", "--continuation-token", "nonsense"), "invalid continuation token"),
        (("list", "--created-from", "yesterday"), "is not an ISO-8601 time"),
        (("worker", "no_such_module:app"), "cannot import 'no_such_module'"),
        (("worker", "tests.cli.examples_module:greet"), "must be a durably.App"),
        (("purge", "p1", "--status", "Failed"), "not both"),
        (("frobnicate",), "No such command"),
    ],
)
def test_usage_errors_exit_2_with_one_line(store: str, args: tuple[str, ...], message: str) -> None:
    assert_one_line_error(durably_command(*args, store=store), 2, message)


def test_store_comes_from_the_option_or_the_environment(tmp_path: Path) -> None:
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    assert durably_command("start", "hello", "--id", "here", store=one).code == 0
    assert durably_command("status", "here", store=one).code == 0
    assert durably_command("status", "here", "--store", two, store=one).code == 1
    assert durably_command("start", "hello", "--id", "there", "--store", two).code == 0
    assert durably_command("status", "there", store=two).code == 0


def test_default_store_is_durably_db_in_the_current_directory(tmp_path: Path) -> None:
    env_free = durably_command("start", "hello", "--id", "d1", cwd=tmp_path)
    assert env_free.code == 0
    assert (tmp_path / "durably.db").exists()


def test_demo_runs(tmp_path: Path) -> None:
    result = durably_command(
        "demo", "--orders", "3", "--store", f"sqlite:///{tmp_path / 'demo.db'}"
    )
    assert result.code == 0, result
    assert "3 / 3" in result.out


def test_help_lists_every_command() -> None:
    result = durably_command("--help")
    commands = ("worker", "start", "status", "list", "raise", "terminate", "suspend", "resume")
    more = ("rewind", "restart", "purge", "history", "demo")
    assert result.code == 0 and all(name in result.out for name in commands + more)


def test_status_and_list_show_why_work_waits(store: str) -> None:
    # A worker left in unknown_function="wait" mode, mid rolling deploy: the instance of
    # an orchestrator it lacks waits, and `durably status` / `durably list` say why.
    with durably.Worker(
        app, store=store, unknown_function="wait", grace=60, poll_interval=0.05
    ) as worker:
        client = worker.client()
        durably.Client(store).start_new("checkout", "ghost", "{}")  # a client of the new app
        client.start_new("hello", "fine", "Ed")
        client.wait_for_completion("fine", timeout=30)
        deadline = time.monotonic() + 30
        while client.get_status("ghost").waiting is None:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "never shown as waiting"
            time.sleep(0.05)
        shown = durably_command("status", "ghost", store=store)
        listed = durably_command("list", store=store)
        as_json = json.loads(durably_command("status", "ghost", "--json", store=store).out)
    assert shown.code == 0 and "Pending" in shown.out
    assert "waiting for a worker with orchestrator 'checkout'" in shown.out
    assert listed.code == 0 and "waiting" in listed.out
    assert "waiting for a worker with orchestrator 'checkout'" in listed.out
    assert as_json["waiting"].startswith("waiting for a worker with orchestrator 'checkout'")
