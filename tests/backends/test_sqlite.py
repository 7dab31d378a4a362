"""What only the SQLite backend promises: the file, its schema, and several processes."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from durably.backends import open_backend
from durably.backends.sql.dialect import SQLITE
from durably.backends.sql.schema import migrations
from durably.backends.sqlite import SqliteBackend
from durably.errors import StoreError
from durably.history import GenericEvent
from durably.testing.backend_contract import message, start


def test_the_file_is_in_wal_mode_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    backend = SqliteBackend(path)
    backend.create_instance(start("a", input='"kept"'))
    backend.close()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = connection.execute("SELECT MAX(version) FROM durably_schema_version")
        assert version.fetchone()[0] == len(migrations(SQLITE))
    again = SqliteBackend(path, synchronous="NORMAL")
    try:
        record = again.get_instance("a")
        assert record is not None and record.input == '"kept"'
    finally:
        again.close()


def test_a_store_from_a_newer_durably_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    SqliteBackend(path).close()
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("INSERT INTO durably_schema_version (version) VALUES (99)")
    with pytest.raises(StoreError, match="upgrade durably"):
        SqliteBackend(path)


def test_driver_errors_become_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        SqliteBackend(tmp_path / "missing-directory" / "store.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        SqliteBackend(garbage)


def test_a_failed_write_undoes_only_its_own_rows_in_a_shared_commit(tmp_path: Path) -> None:
    # Threads that write at once share one commit; one that fails takes back only its
    # own rows, whether it was first in the transaction or joined it.
    backend = SqliteBackend(tmp_path / "store.db")
    insert = (
        "INSERT INTO durably_history (task_hub, instance_id, sequence, event) VALUES (?, ?, ?, ?)"
    )
    first_in = threading.Event()
    queued = threading.Event()
    errors: list[BaseException] = []

    def write(name: str, fail: bool, hold: bool = False) -> None:
        try:
            with backend._write() as tx:
                tx.execute(insert, backend.task_hub, name, 0, "{}")
                if hold:  # keep the transaction open until the others wait for it
                    first_in.set()
                    queued.wait(5)
                if fail:
                    raise RuntimeError(name)
        except RuntimeError as exc:
            errors.append(exc)

    first = threading.Thread(target=write, args=("a", False, True))
    first.start()
    first_in.wait(5)
    others = [threading.Thread(target=write, args=(n, n == "b")) for n in ("b", "c")]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 5
    while backend._wanting < 3 and time.monotonic() < deadline:  # b and c wait to join
        time.sleep(0.01)
    assert backend._wanting == 3, "b and c never queued: nothing to test"
    queued.set()
    for thread in (first, *others):
        thread.join(5)
    write("d", True)  # alone: the first (and only) write of its transaction
    write("e", False)
    with backend._read() as tx:
        rows = tx.all("SELECT instance_id FROM durably_history ORDER BY instance_id")
    assert [r[0] for r in rows] == ["a", "c", "e"]
    assert sorted(str(e) for e in errors) == ["b", "d"]
    backend.close()


def test_a_client_write_commits_without_waiting_for_worker_writes_behind_it(
    tmp_path: Path,
) -> None:
    # A worker's write may run a batch of episodes while it holds the transaction: a
    # client call that finished its own write commits at once (with whatever the
    # transaction holds so far) instead of waiting for the worker's write to join.
    path = tmp_path / "store.db"
    backend = SqliteBackend(path)
    insert = (
        "INSERT INTO durably_history (task_hub, instance_id, sequence, event) VALUES (?, ?, ?, ?)"
    )
    client_in, client_go, worker_go = threading.Event(), threading.Event(), threading.Event()
    client_done, worker_done = threading.Event(), threading.Event()

    def client() -> None:
        with backend._write(prompt=True) as tx:
            tx.execute(insert, backend.task_hub, "client", 0, "{}")
            client_in.set()
            client_go.wait(5)
        client_done.set()

    def worker() -> None:
        with backend._write() as tx:
            tx.execute(insert, backend.task_hub, "worker", 0, "{}")
            worker_go.wait(5)
        worker_done.set()

    threading.Thread(target=client).start()
    client_in.wait(5)
    threading.Thread(target=worker).start()
    deadline = time.monotonic() + 5
    while backend._wanting < 2 and time.monotonic() < deadline:  # the worker waits
        time.sleep(0.01)
    assert backend._wanting == 2, "the worker's write never queued: nothing to test"
    client_go.set()
    assert client_done.wait(5), "the client call waited for the worker's write"
    with contextlib.closing(sqlite3.connect(path)) as other:  # durable, seen by others
        rows = other.execute("SELECT instance_id FROM durably_history").fetchall()
    assert rows == [("client",)]
    worker_go.set()
    assert worker_done.wait(5)
    backend.close()


def test_a_closed_backend_refuses_work(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store.db")
    backend.close()
    with pytest.raises(StoreError, match="closed"):
        backend.get_instance("a")
    with pytest.raises(StoreError, match="closed"):
        backend.create_instance(start("a"))
    backend.wait_for_work("orchestration", 5.0)  # returns at once


_OPEN = """
import sys
from durably.backends import open_backend
open_backend(sys.argv[1]).close()
"""

_WORKER = """
import datetime as dt, json, pathlib, sys, time
from durably.backends import open_backend
from durably.backends.base import OrchestrationCommit
from durably.history import GenericEvent, OrchestrationRuntimeStatus

backend = open_backend(sys.argv[1])
owner, go = sys.argv[2], pathlib.Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():  # start together, so the processes really compete
    time.sleep(0.01)
idle_since = time.monotonic()
while time.monotonic() - idle_since < 1.5:
    now = dt.datetime.now(dt.UTC)
    items = backend.lock_next_orchestrations(
        owner=owner, now=now, lease=dt.timedelta(seconds=120), limit=2
    )
    if not items:
        backend.wait_for_work("orchestration", 0.05)
        continue
    idle_since = time.monotonic()
    time.sleep(0.005)  # an episode's work: widens the window for a second locker
    commits = [
        OrchestrationCommit(
            work_item=item,
            new_events=(GenericEvent(timestamp=now, data=json.dumps(
                [owner, [m.message_id for m in item.messages]])),),
            runtime_status=OrchestrationRuntimeStatus.Running,
            execution_id=item.instance.execution_id,
            name=item.instance.name,
            last_updated_time=now,
        )
        for item in items
    ]
    lost = backend.commit_orchestrations(commits)
    if lost:
        print("LOST", lost, flush=True)
backend.close()
"""


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(processes: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


def test_processes_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    _finish([_start([sys.executable, "-c", _OPEN, url]) for _ in range(4)])
    backend = open_backend(url)
    backend.create_instance(start("a"))
    backend.close()


def test_worker_processes_on_one_file_never_process_a_message_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    backend = open_backend(url)
    names = [f"i{n}" for n in range(20)]
    for name in names:
        backend.create_instance(start(name))
        for _ in range(4):
            backend.send_message(message(name))
    go = tmp_path / "go"
    workers = [_start([sys.executable, "-c", _WORKER, url, f"p{n}", str(go)]) for n in range(3)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    go.touch()
    assert "LOST" not in "".join(_finish(workers))
    consumed: list[int] = []
    owners: set[str] = set()
    for name in names:
        for event in backend.get_history(name):
            assert isinstance(event, GenericEvent) and event.data is not None
            owner, message_ids = json.loads(event.data)
            owners.add(owner)
            consumed += message_ids
    backend.close()
    assert len(consumed) == len(names) * 5
    assert len(set(consumed)) == len(consumed)
    assert len(owners) > 1, "the processes did not compete"


def test_timestamps_come_back_as_utc(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store.db")
    try:
        plus_two = _dt.timezone(_dt.timedelta(hours=2))
        created = _dt.datetime(2024, 6, 1, 14, 0, 0, 123456, tzinfo=plus_two)
        backend.create_instance(start("a", created=created))
        record = backend.get_instance("a")
        assert record is not None
        assert record.created_time == created
        assert record.created_time.tzinfo == _dt.UTC
        assert record.created_time.hour == 12
    finally:
        backend.close()


def test_a_file_of_another_application_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match=r"another application's tables \(invoices\)"):
        open_backend(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master")]
    assert tables == ["invoices"]  # untouched
    shared = open_backend(f"sqlite:///{path}?allow_foreign_tables=true")
    try:
        shared.create_instance(start("a"))
        assert shared.get_instance("a") is not None
    finally:
        shared.close()
    again = SqliteBackend(path, allow_foreign_tables=True)  # durably's tables are its own
    again.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:/x.db", "looks like sqlite:///path.db"),
        ("sqlite://host/x.db", "looks like sqlite:///path.db"),
        ("sqlite:///dir/", "it names a directory"),
        ("sqlite:///x.db?allow_foreign_tables=maybe", "must be true or false"),
    ],
)
def test_store_urls_of_surprising_shapes_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_backend(url)


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory, not a file"):
        open_backend(f"sqlite:///{tmp_path}")
