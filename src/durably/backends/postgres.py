"""PostgresBackend: durably's distributed store, on psycopg 3 and psycopg_pool.

Any number of worker processes on any number of hosts share one database. The SQL is
the SQLite backend's (:mod:`durably.backends._sql_ops`), except that a client's
``start_new`` and ``raise_event`` are each one statement in a transaction of its own (a
data-modifying ``WITH``). Three more things differ here:

* **Locking.** Transactions run at READ COMMITTED. Workers pick work with
  ``FOR UPDATE OF w SKIP LOCKED`` (competing consumers pass each other by instead of
  queueing), and every check-then-write reads the row it will change ``FOR UPDATE``.
  An instance is leased (lock owner, token and expiry on its row) for one episode; a
  commit re-checks the token under the row lock, so a worker whose lease was taken over
  changes nothing.
* **Notifications.** Each write transaction that creates work sends one NOTIFY on the
  task hub's channel; a dedicated LISTEN connection per backend object wakes idle
  waiters (:mod:`durably.backends._pg_listen`). Polling remains the fallback.
* **Connections.** A pool (``pool_min``..``pool_max`` connections) serves every thread;
  a connection the server dropped is noticed before use and replaced, and the pool
  reconnects in the background with backoff while the server is away. Driver errors
  surface as :class:`~durably.errors.StoreError`; the worker retries them.

The schema is created on first use inside a transaction holding an advisory lock, so
processes that start at once against an empty database do not race.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import re
import select
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Self, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict

from durably.backends import _sql as q
from durably.backends import _sql_ops as ops
from durably.backends._codec import to_micros
from durably.backends._pg_listen import Listener, channel_name, encode_payload
from durably.backends._sql import MIGRATIONS, POSTGRES, Cursor, Tx, migrate
from durably.backends._sql_backend import SqlBackend
from durably.backends.base import (
    ActivityWorkItem,
    BackendOptions,
    EpisodeBatch,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    WorkKind,
)
from durably.errors import InstanceNotFoundError, StoreError

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_N = TypeVar("_N", int, float)
_OPTIONS = ("schema", "pool_min", "pool_max", "pool_timeout", "poll_interval")


class PostgresBackend(SqlBackend):
    """A :class:`~durably.backends.base.Backend` on a PostgreSQL database (10 or later).

    ``conninfo`` is a libpq URL or key/value string. ``schema`` (lower-case letters,
    digits and ``_``) puts durably's tables in that schema instead of the connection's
    default (``public``); it is created if missing. ``pool_min``/``pool_max`` bound the
    pooled connections of this object (one more is used for LISTEN); ``pool_timeout``
    is how long (seconds) a caller waits for a connection before ``StoreError``;
    ``poll_interval`` is how often (seconds) waiters look for work while the LISTEN
    connection is down.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        task_hub: str = "default",
        schema: str | None = None,
        pool_min: int = 1,
        pool_max: int = 4,
        pool_timeout: float = 30.0,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(dialect=POSTGRES, task_hub=task_hub)
        _check_settings(schema, pool_min, pool_max, pool_timeout, poll_interval)
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"invalid PostgreSQL connection string: {exc}") from None
        self.schema = schema
        self.where = _describe(params)
        self._conninfo = conninfo
        self._kwargs = _connect_kwargs(params, schema)
        self._poll_interval = poll_interval
        self._closed = False
        self._created = 0
        self._sender = uuid.uuid4().hex[:12]
        self._channel = channel_name(schema, task_hub)
        self._migrate()
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = (
            psycopg_pool.ConnectionPool(
                conninfo,
                kwargs=self._kwargs,
                min_size=pool_min,
                max_size=pool_max,
                timeout=pool_timeout,
                check=_check_connection,
                name=f"durably-{self._sender}",
                open=False,
            )
        )
        self._pool.open(wait=False)
        self._listener = Listener(
            conninfo=conninfo,
            connect_kwargs={**self._kwargs, "application_name": _listener_name(params)},
            channel=self._channel,
            task_hub=task_hub,
            sender=self._sender,
            notifier=self._notifier,
        )

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        """Open ``postgresql://user@host:port/database?options``.

        Options: ``schema``, ``pool_min``, ``pool_max``, ``pool_timeout``,
        ``poll_interval``; any other query parameter is handed to libpq (``sslmode``,
        ``connect_timeout``, ``application_name``, ...) and refused if libpq does not
        know it.
        """
        extra = dict(options.extra)
        ours = {name: extra.pop(name) for name in _OPTIONS if name in extra}
        parts = urlsplit(url)
        conninfo = urlunsplit(parts._replace(query=urlencode(extra)))
        try:
            conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"unknown postgresql:// option: {exc}") from None
        return cls(
            conninfo,
            task_hub=options.task_hub,
            schema=ours.get("schema") or None,
            pool_min=_number(ours, "pool_min", int, 1),
            pool_max=_number(ours, "pool_max", int, 4),
            pool_timeout=_number(ours, "pool_timeout", float, 30.0),
            poll_interval=_number(ours, "poll_interval", float, 1.0),
        )

    # -- schema --------------------------------------------------------------------
    def _migrate(self) -> None:
        try:
            with (
                psycopg.Connection.connect(self._conninfo, **self._kwargs) as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                tx = Tx(cursor, POSTGRES, self.task_hub)
                if _schema_version(tx) == len(MIGRATIONS):
                    return  # the common case: no lock, no DDL (the role may lack the right)
                # Serialise migrators across processes; the lock ends with the transaction.
                tx.execute("SELECT pg_advisory_xact_lock(?)", _lock_key(self.schema))
                if self.schema and not tx.one(
                    "SELECT 1 FROM pg_namespace WHERE nspname = ?", self.schema
                ):
                    cursor.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self.schema)
                        )
                    )
                migrate(tx)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open PostgreSQL store {self.where}: {exc}") from exc

    # -- connections -----------------------------------------------------------------
    def _write_cursor(self, *, prompt: bool = False) -> AbstractContextManager[Cursor]:
        return self._transaction(durable=True)  # every transaction commits on its own

    def _lease_cursor(self) -> AbstractContextManager[Cursor]:
        # Lease-only transactions (lock, renew, abandon) commit without waiting for the
        # WAL flush: a crash may forget one, which only frees a lease early or late, and
        # the episode commit that follows a lock is synchronous (flushing the WAL up to
        # and including the lock).
        return self._transaction(durable=False)

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool) -> Iterator[Cursor]:
        with self._translated(), self._pool.connection() as connection:
            if not _PIPELINE:
                with connection.transaction(), connection.cursor() as cursor:
                    yield cursor
                return
            # BEGIN and COMMIT are sent by hand: connection.transaction() in pipeline
            # mode waited for the server more often (0.15-0.3 ms per transaction). The
            # COMMIT is answered by the round trip that leaving the pipeline makes
            # anyway (a sync of our own before it would cost one more).
            try:
                with (
                    connection.pipeline() as pipeline,
                    connection.cursor() as cursor,
                    connection.cursor() as queue,
                ):
                    pipelined = _PipelinedCursor(cursor, queue, pipeline)
                    try:
                        pipelined.send("BEGIN")
                        if not durable:
                            pipelined.send("SET LOCAL synchronous_commit TO OFF")
                        yield pipelined
                        # Sending may already read an earlier statement's error.
                        pipelined.send("COMMIT")
                    except BaseException:
                        # Inside the pipeline, which the rollback leaves usable again.
                        # What the pipeline still holds (the aborted statements after a
                        # failed one) only repeats the error being raised: drain it.
                        with contextlib.suppress(psycopg.Error):
                            pipeline.sync()
                        _roll_back(connection)
                        raise
            except psycopg.Error:  # the COMMIT, or a statement sent before it, failed
                _roll_back(connection)
                raise
            pipelined.committed()

    @contextlib.contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        with (
            self._translated(),
            self._pool.connection() as connection,
            connection.cursor() as cursor,
        ):
            yield cursor

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        if self._closed:
            raise StoreError(f"the PostgreSQL store {self.where} is closed")
        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store {self.where}: {exc}") from exc

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        """Extend the leases, one short transaction each; returns the ids whose lock was lost.

        One row per transaction: a renewal never holds one row lock while it waits for
        another, so it cannot deadlock with a result delivery or an episode commit that
        deletes the same rows in another order.
        """
        lost = []
        for item in sorted(work_items, key=lambda i: i.message_id):
            with self._write(durable=False) as tx:
                if not ops.renew_activity(tx, item, until):
                    lost.append(item.message_id)
        return lost

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """See :meth:`Backend.commit_if_unchanged`: one round trip. The guarded UPDATE
        goes out with the other writes and the COMMIT; if the instance changed, it
        fails with division_by_zero (the dialect's ``refuse``) and nothing is written."""
        with _refused_as_none():
            return super().commit_if_unchanged(commit, now=now)
        return None

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """See :meth:`Backend.create_and_commit`: one round trip (a taken id makes the
        instance's INSERT fail on purpose, as in :meth:`commit_if_unchanged`)."""
        with _refused_as_none():
            return super().create_and_commit(new, commit)
        return None

    # -- client calls: one statement, one round trip -----------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending); raises ``InstanceExistsError`` if it is active.

        One statement that is its own transaction: the instance, its start message and
        the NOTIFY, with no BEGIN or COMMIT to send (a taken id writes nothing and takes
        the replace-or-refuse path)."""
        event = instance.start_event.to_json()
        row = (*ops.instance_row(self.task_hub, instance), to_micros(instance.visible_at), event)
        if not self._at_once(_CREATE_AT_ONCE, row, instance.visible_at):
            super().create_instance(instance)  # the id is taken: replace, or refuse
            return
        self._notifier.notify("orchestration", visible_at=instance.visible_at)
        self._grew(1)

    def send_message(self, message: NewMessage) -> None:
        """Enqueue an event; raises ``InstanceNotFoundError`` for an unknown instance.

        One statement that is its own transaction, as :meth:`create_instance`."""
        event = message.event.to_json()
        params = (message.execution_id, to_micros(message.visible_at), event, self.task_hub)
        if not self._at_once(_ENQUEUE_AT_ONCE, (*params, message.instance_id), message.visible_at):
            raise InstanceNotFoundError(message.instance_id)
        self._notifier.notify("orchestration", visible_at=message.visible_at)

    def _at_once(self, template: str, params: tuple[Any, ...], visible_at: _dt.datetime) -> int:
        """Run a statement that writes and NOTIFYs in a transaction of its own (the
        connections are in autocommit mode); the count of rows it reports."""
        payload = encode_payload(self._sender, [("orchestration", visible_at)])
        statement = self.dialect.render(template)
        with self._translated(), self._pool.connection() as connection:
            row = connection.execute(statement, (*params, self._channel, payload)).fetchone()
        return int(row[0]) if row is not None else 0

    def _grew(self, created: int) -> None:
        # A new database has no planner statistics until autovacuum's first analyze
        # (up to a minute after the tables fill): until then picking work scans the whole
        # task hub. After this process's first 1,000 and 10,000 starts, analyze at once.
        before, self._created = self._created, self._created + created
        if any(before < mark <= self._created for mark in _ANALYZE_AT):
            threading.Thread(target=self._analyze, name="durably-analyze", daemon=True).start()

    def _analyze(self) -> None:
        try:
            with self._pool.connection() as connection:
                connection.execute(_ANALYZE)
        except Exception:  # statistics only: autovacuum makes them anyway
            if not self._closed:
                log.warning("ANALYZE of the durably tables failed", exc_info=True)

    def _publish(self, tx: Tx) -> None:
        # Delivered by the server at COMMIT, and not at all on rollback. An orchestration
        # note without a time is a released lock, not new work: it matters to this
        # process (which gets it in-process) and would only wake every other worker for
        # nothing. Other processes find what a released lock exposes by polling.
        notes = [(k, at) for k, at in tx.notes if k != "orchestration" or at is not None]
        if notes:
            payload = encode_payload(self._sender, notes)
            # executemany: the result is not needed, so it rides with the COMMIT.
            tx.executemany("SELECT pg_notify(?, ?)", [(self._channel, payload)])

    # -- wake-ups and lifecycle ------------------------------------------------------
    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Wait for a notification from any process, for known work to come due, or for
        ``timeout`` seconds (at most ``poll_interval`` while LISTEN is down)."""
        if self._closed:
            return
        self._listener.start()
        if not self._listener.connected:
            timeout = min(timeout, self._poll_interval)
        self._notifier.wait(kind, timeout)

    @property
    def listening(self) -> bool:
        """True while the LISTEN connection is up."""
        return self._listener.connected

    def close(self) -> None:
        """Close the pool and the LISTEN connection; the backend is unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        self._listener.stop()
        self._pool.close()
        self._notifier.notify_all()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.where!r}, task_hub={self.task_hub!r})"


# -- helpers ---------------------------------------------------------------------------

log = logging.getLogger("durably.backends.postgres")
_PIPELINE = psycopg.Pipeline.is_supported()
_CREATE_AT_ONCE = (
    # The start message and the NOTIFY only if the instance row was inserted.
    f"WITH created AS ({q.INSERT_INSTANCE} RETURNING task_hub, instance_id, execution_id),"
    " message AS (INSERT INTO durably_inbox (task_hub, instance_id, execution_id, visible_at,"
    " event) SELECT task_hub, instance_id, execution_id, ?, ? FROM created RETURNING 1)"
    " SELECT count(*), pg_notify(?, ?) FROM message HAVING count(*) > 0"
)
_ENQUEUE_AT_ONCE = (
    f"WITH message AS ({q.ENQUEUE_IF_EXISTS} RETURNING 1)"
    " SELECT count(*), pg_notify(?, ?) FROM message HAVING count(*) > 0"
)
_ANALYZE_AT = (1_000, 10_000)
"""Instances created by a process after which it analyzes the tables (see _grew)."""
_ANALYZE = "ANALYZE durably_instances, durably_inbox, durably_history, durably_activities"
"""libpq 14 or later: statements can be sent without waiting for each result."""


_VALUES = re.compile(r"^INSERT INTO [^;]* VALUES (\((?:%s, )*%s\))$")
"""An INSERT of one row of parameters (the row is group 1)."""
_MAX_ROWS = 64
"""Rows per multi-row INSERT (each row count is another prepared statement)."""


class _PipelinedCursor:
    """A cursor of a transaction in pipeline mode: fewer round trips per episode.

    ``executemany`` statements (history rows, consumed messages, new activity work,
    NOTIFY) have no result anyone reads, so they are only sent; the next ``execute``,
    whose result (a row count, rows) is needed at once, takes them along and waits for
    everything in one round trip. An error in a sent statement surfaces there, or at
    COMMIT, and aborts the transaction like any other. The sent statements use a cursor
    of their own, so their results never mix with the ones read.
    """

    def __init__(
        self,
        cursor: psycopg.Cursor[Any],
        queue: psycopg.Cursor[Any],
        pipeline: psycopg.Pipeline,
    ) -> None:
        self._cursor = cursor
        self._queue = queue
        self._pipeline = pipeline
        self._after: list[tuple[psycopg.Cursor[Any], Callable[[psycopg.Cursor[Any]], None]]] = []

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Sequence[Any], /) -> None:
        self._cursor.execute(sql, params)
        self._pipeline.sync()

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> None:
        rows = list(params)
        values = _VALUES.search(sql)
        if values is None or len(rows) < 2:
            self._queue.executemany(sql, rows)
            return
        # An INSERT of several rows becomes one multi-row INSERT per chunk: one statement
        # for the server to parse, plan and run instead of one per row.
        for start in range(0, len(rows), _MAX_ROWS):
            chunk = rows[start : start + _MAX_ROWS]
            many = sql[: values.start(1)] + ", ".join([values.group(1)] * len(chunk))
            self._queue.execute(many, [value for row in chunk for value in row])

    def send(self, sql: str) -> None:
        self._queue.execute(sql)

    def with_commit(
        self, sql: str, params: Sequence[Any], then: Callable[[psycopg.Cursor[Any]], None]
    ) -> None:
        """Send a statement whose answer is wanted only after COMMIT: ``then`` gets its
        cursor then (see :meth:`committed`)."""
        cursor = self._cursor.connection.cursor()
        cursor.execute(sql, params)
        self._after.append((cursor, then))

    def committed(self) -> None:
        """The COMMIT's round trip is done: answer the :meth:`with_commit` statements."""
        for cursor, then in self._after:
            try:
                then(cursor)
            finally:
                cursor.close()
        self._after.clear()

    def run_together(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Send the statements, each on a cursor of its own, and wait once for them all."""
        connection = self._cursor.connection
        cursors = [connection.cursor() for _ in queries]
        try:
            for cursor, (statement, params) in zip(cursors, queries, strict=True):
                cursor.execute(statement, params)
            self._pipeline.sync()
            return [cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


@contextlib.contextmanager
def _refused_as_none() -> Iterator[None]:
    """Swallow the failure of a write the dialect's ``refuse`` made fail on purpose
    (the caller then returns None: nothing was written)."""
    try:
        yield
    except StoreError as exc:
        if not isinstance(exc.__cause__, psycopg.errors.DivisionByZero):
            raise


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    if connection.info.transaction_status != pq.TransactionStatus.IDLE:
        connection.rollback()


def _check_settings(
    schema: str | None, pool_min: int, pool_max: int, pool_timeout: float, poll_interval: float
) -> None:
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"schema must be lower-case letters, digits and _ (not starting with a digit), "
            f"not {schema!r}"
        )
    if pool_min < 0 or pool_max < max(pool_min, 1):
        raise ValueError(
            f"need 0 <= pool_min <= pool_max and pool_max >= 1, not {pool_min}, {pool_max}"
        )
    if pool_timeout <= 0 or poll_interval <= 0:
        raise ValueError("pool_timeout and poll_interval must be positive")


def _number(options: dict[str, str], name: str, kind: type[_N], default: _N) -> _N:
    if name not in options:
        return default
    try:
        return kind(options[name])
    except ValueError:
        raise ValueError(
            f"postgresql:// option {name} must be a number, not {options[name]!r}"
        ) from None


def _describe(params: dict[str, Any]) -> str:
    """``host:port/database`` for messages (never the password)."""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


def _connect_kwargs(params: dict[str, Any], schema: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"autocommit": True}
    if "application_name" not in params:
        kwargs["application_name"] = "durably"
    if "connect_timeout" not in params:
        kwargs["connect_timeout"] = 10
    if schema:
        # The schema name is checked against _SCHEMA_NAME: no quoting needed.
        options = params.get("options")
        kwargs["options"] = (
            f"{options} -c search_path={schema}" if options else (f"-c search_path={schema}")
        )
    return kwargs


def _listener_name(params: dict[str, Any]) -> str:
    return f"{params.get('application_name') or 'durably'}-listener"[:63]


def _lock_key(schema: str | None) -> int:
    digest = hashlib.sha256(f"durably-schema:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _schema_version(tx: Tx) -> int:
    row = tx.one("SELECT to_regclass('durably_schema_version') IS NOT NULL")
    if not row or not row[0]:
        return 0
    row = tx.one("SELECT MAX(version) FROM durably_schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def _check_connection(connection: psycopg.Connection[Any]) -> None:
    """The pool's check before lending a connection: no round trip, just the socket.

    An idle connection has nothing to read unless the server said goodbye (a restart or
    ``pg_terminate_backend`` sends an error and closes the socket): the pool then
    replaces the connection instead of handing out a dead one.
    """
    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the connection is closed")
    if _readable(connection.fileno()):
        # Almost always the server's goodbye. (A rare asynchronous notice would make us
        # drop a good connection: a cheap reconnect, never a failed call.) Closed, the
        # connection is discarded by the pool rather than offered again.
        connection.close()
        raise psycopg.OperationalError("the server sent data to an idle connection")


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # not limited to descriptors below FD_SETSIZE
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows
