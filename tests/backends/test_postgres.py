"""What only the PostgreSQL backend promises: URL options, schema, errors, wake-ups across
processes, and recovery when the server drops its connections."""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from durably.backends import open_backend
from durably.backends.base import Backend, NewMessage
from durably.backends.postgres import PostgresBackend
from durably.backends.sql.dialect import POSTGRES
from durably.backends.sql.schema import migrations
from durably.errors import StoreError
from durably.history import TimerFired
from durably.testing.backend_contract import commit, lock_one, message, start
from tests import pg

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> str:
    return pg.with_query(pg.server_url(), task_hub=f"pg-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def opened() -> Iterator[list[Backend]]:
    """Backends the test opens; closed at the end."""
    backends: list[Backend] = []
    yield backends
    for backend in backends:
        backend.close()


def _open(opened: list[Backend], url: str) -> Backend:
    backend = open_backend(url)
    opened.append(backend)
    return backend


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


# -- URL options and schema ------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"pool_max": "lots"},
        {"pool_min": "3", "pool_max": "2"},
        {"pool_max": "0"},
        {"schema": "Has-Capitals"},
        {"poll_interval": "0"},
        {"colour": "blue"},
    ],
)
def test_bad_options_are_refused(url: str, query: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        open_backend(pg.with_query(url, **query))


def test_libpq_parameters_pass_through(url: str, opened: list[Backend]) -> None:
    name = f"durably-test-{uuid.uuid4().hex[:8]}"
    _open(opened, pg.with_query(url, application_name=name, pool_min=2, pool_max=3))
    pg.wait_until(lambda: len(pg.connections(url, name)) == 2, what="two pooled connections")
    opened[0].wait_for_work("status", 0.0)  # starts the LISTEN connection
    pg.wait_until(
        lambda: f"{name}-listener" in pg.connections(url, name), what="the LISTEN connection"
    )


def test_a_schema_holds_the_tables_and_task_hubs_share_it(url: str, opened: list[Backend]) -> None:
    with pg.fresh_schema(url) as schema:
        first = _open(opened, pg.with_query(url, schema=schema))
        first.create_instance(start("a"))
        with pg.admin(url) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        assert {row[0] for row in tables} >= {
            "durably_instances",
            "durably_history",
            "durably_inbox",
            "durably_activities",
            "durably_schema_version",
        }
        other_hub = _open(opened, pg.with_query(url, schema=schema, task_hub="other"))
        assert other_hub.get_instance("a") is None
        assert _open(opened, url).get_instance("a") is None  # the default schema
        for backend in opened:
            backend.close()


def test_a_thousand_starts_give_a_new_store_planner_statistics(
    url: str, opened: list[Backend]
) -> None:
    # Without them, picking work scans the whole task hub until autovacuum's first
    # analyze, up to a minute later.
    with pg.fresh_schema(url) as schema:
        backend = _open(opened, pg.with_query(url, schema=schema))
        for n in range(1000):
            backend.create_instance(start(f"i{n}"))
        query = (
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s"
            " AND coalesce(last_analyze, last_autoanalyze) IS NOT NULL"
        )
        wanted = {"durably_instances", "durably_inbox"}
        deadline = time.monotonic() + 20
        with pg.admin(url) as connection:
            while True:
                analyzed = {r[0] for r in connection.execute(query, (schema,)).fetchall()}
                # Statistics reach pg_stat_user_tables a table at a time, and late.
                if wanted <= analyzed or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        assert wanted <= analyzed
        backend.close()


def test_a_schema_from_a_newer_durably_is_refused(url: str) -> None:
    with pg.fresh_schema(url) as schema:
        open_backend(pg.with_query(url, schema=schema)).close()
        with pg.admin(url) as connection:
            connection.execute(f"INSERT INTO {schema}.durably_schema_version VALUES (99)")
        with pytest.raises(StoreError, match=r"schema version is 99.*upgrade durably"):
            open_backend(pg.with_query(url, schema=schema))


_OPEN = """
import sys, time
from durably.backends import open_backend
while time.time() < float(sys.argv[2]):
    pass
open_backend(sys.argv[1]).close()
"""


def test_processes_creating_the_schema_at_once_all_succeed(url: str) -> None:
    with pg.fresh_schema(url) as schema:
        target = pg.with_query(url, schema=schema)
        go = str(time.time() + 1.0)  # start together, so the migrations really race
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN, target, go], stderr=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
        with pg.admin(url) as connection:
            versions = connection.execute(
                f"SELECT version FROM {schema}.durably_schema_version"
            ).fetchall()
        assert versions == [(n,) for n in range(1, len(migrations(POSTGRES)) + 1)]


# -- errors ------------------------------------------------------------------------------


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    # A server that is away is waited for up to pool_timeout (it may be restarting).
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1/nowhere") as caught:
        open_backend("postgresql://someone:s3cret@127.0.0.1:1/nowhere?pool_timeout=1")
    assert "s3cret" not in str(caught.value)
    assert 0.5 < time.monotonic() - started < 10


def test_a_refused_login_is_reported_at_once(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="nosuchdatabase"):
        open_backend(url.rsplit("/", 1)[0] + "/nosuchdatabase")
    assert time.monotonic() - started < 5


def test_driver_errors_become_store_errors(url: str, opened: list[Backend]) -> None:
    backend = _open(opened, url)
    backend.create_instance(start("a"))
    with pytest.raises(StoreError, match="NUL"):
        backend.create_instance(start("nul\x00is not text to PostgreSQL"))
    assert backend.get_instance("a") is not None  # and the backend still works


def test_a_failed_write_commits_nothing_and_leaves_the_connection_clean(
    url: str, opened: list[Backend], caplog: pytest.LogCaptureFixture
) -> None:
    backend = _open(opened, url)
    assert isinstance(backend, PostgresBackend)
    insert = (
        "INSERT INTO durably_history (task_hub, instance_id, sequence, event) VALUES (?, ?, ?, ?)"
    )
    row = (backend.task_hub, "a", 0, "{}")
    count = "SELECT count(*) FROM durably_history WHERE task_hub = ?"
    for _ in range(3):  # the pool's connection comes back clean each time
        # Both rows are sent without waiting: the error shows at COMMIT.
        with pytest.raises(StoreError, match="duplicate key"), backend._write() as tx:
            tx.executemany(insert, [row])
            tx.executemany(insert, [row])
        with pytest.raises(RuntimeError), backend._write() as tx:
            tx.executemany(insert, [row])
            raise RuntimeError("the caller gave up")
        with backend._read() as tx:
            assert tx.one(count, backend.task_hub) == (0,)
    with backend._write() as tx:
        tx.executemany(insert, [row])
    with backend._read() as tx:
        assert tx.one(count, backend.task_hub) == (1,)
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]


def test_a_closed_backend_refuses_work(url: str) -> None:
    backend = open_backend(url)
    backend.close()
    with pytest.raises(StoreError, match="closed"):
        backend.get_instance("a")
    with pytest.raises(StoreError, match="closed"):
        backend.create_instance(start("a"))
    backend.wait_for_work("orchestration", 5.0)  # returns at once
    backend.close()  # twice is fine


# -- wake-ups across backend objects (as across processes) -------------------------------


def _listening(backend: Backend) -> None:
    backend.wait_for_work("status", 0.0)
    pg.wait_until(lambda: getattr(backend, "listening", False), what="LISTEN")


def test_a_remote_timer_wakes_a_waiter_when_it_comes_due(url: str, opened: list[Backend]) -> None:
    writer, waiter = _open(opened, url), _open(opened, url)
    _listening(waiter)
    now = _utcnow()
    writer.create_instance(start("t", created=now))
    writer.commit_orchestrations([commit(lock_one(writer, "t", now=now))])
    fire_at = _utcnow() + _dt.timedelta(seconds=1.0)
    timer = TimerFired(timestamp=now, timer_id=1, fire_at=fire_at)
    writer.send_message(NewMessage(instance_id="t", event=timer, visible_at=fire_at))
    started = time.monotonic()
    while not waiter.lock_next_orchestrations(
        owner="w", now=_utcnow(), lease=_dt.timedelta(seconds=30), limit=1
    ):
        assert time.monotonic() - started < 5, "the waiter slept through the timer"
        waiter.wait_for_work("orchestration", 30.0)
    assert 0.8 < time.monotonic() - started < 3.0


def test_starts_and_events_wake_waiters_of_other_backends(url: str, opened: list[Backend]) -> None:
    # Another process's worker hears of a start or an event at once (NOTIFY), not at
    # its next poll.
    writer, waiter = _open(opened, url), _open(opened, url)
    _listening(waiter)
    for write in (
        lambda: writer.create_instance(start("s", created=_utcnow())),
        lambda: writer.send_message(message("s", visible_at=_utcnow())),
    ):
        waiter.wait_for_work("orchestration", 0.0)  # forget wake-ups from before
        woke = threading.Event()

        def wait(woke: threading.Event) -> None:
            waiter.wait_for_work("orchestration", 30.0)
            woke.set()

        thread = threading.Thread(target=wait, args=(woke,))
        thread.start()
        time.sleep(0.2)  # let it block
        assert not woke.is_set()
        write()
        assert woke.wait(5), "the other backend slept through the write"
        thread.join()


def test_a_new_listener_learns_of_timers_set_before_it_started(
    url: str, opened: list[Backend]
) -> None:
    writer = _open(opened, url)
    now = _utcnow()
    writer.create_instance(start("t", created=now + _dt.timedelta(seconds=1.5)))
    waiter = _open(opened, url)
    started = time.monotonic()
    while not waiter.lock_next_orchestrations(
        owner="w", now=_utcnow(), lease=_dt.timedelta(seconds=30), limit=1
    ):
        assert time.monotonic() - started < 6, "the waiter slept through the scheduled start"
        waiter.wait_for_work("orchestration", 30.0)
    assert time.monotonic() - started < 4.0


def test_a_pool_of_dead_connections_does_not_delay_a_call(url: str) -> None:
    # After a restart every idle connection is dead. They are discarded one after the
    # other and a fresh one serves the call, well inside a short pool_timeout (a pause
    # after each dead connection would add up to more than it).
    name = f"durably-test-{uuid.uuid4().hex[:8]}"
    options = {"application_name": name, "pool_min": 4, "pool_max": 4, "pool_timeout": 2}
    backend = open_backend(pg.with_query(url, **options))
    try:
        backend.create_instance(start("x"))
        for _ in range(3):
            pg.wait_until(lambda: len(pg.connections(url, name)) == 4, what="a full pool")
            assert pg.terminate(url, name) == 4
            assert backend.get_instance("x") is not None
    finally:
        backend.close()


def test_terminated_connections_are_replaced_and_listen_resumes(url: str) -> None:
    name = f"durably-test-{uuid.uuid4().hex[:8]}"
    app_url = pg.with_query(url, application_name=name, pool_min=2, pool_max=2)
    writer, waiter = open_backend(app_url), open_backend(app_url)
    try:
        writer.create_instance(start("x"))
        writer.commit_orchestrations([commit(lock_one(writer, "x"))])
        _listening(waiter)
        pg.wait_until(lambda: len(pg.connections(url, name)) == 5, what="all connections")
        assert pg.terminate(url, name) == 5
        # The pool hands out no dead connection: the next calls just work.
        assert writer.get_instance("x") is not None
        assert waiter.get_history("x") == []
        pg.wait_until(lambda: getattr(waiter, "listening", False), what="LISTEN again")
        woke = threading.Event()

        def wait() -> None:
            waiter.wait_for_work("orchestration", 30.0)
            woke.set()

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.2)
        writer.send_message(message("x", visible_at=_utcnow()))
        assert woke.wait(5), "the re-established LISTEN connection heard nothing"
        thread.join()
    finally:
        writer.close()
        waiter.close()
