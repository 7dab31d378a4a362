"""PostgresBackend: durably's distributed store, on psycopg 3 and psycopg_pool.

Any number of worker processes on any number of hosts share one database. The SQL is
the SQLite store's (:mod:`durably.backends.sql`), except that a client's ``start_new``
and ``raise_event`` are each one statement in a transaction of its own (a
data-modifying ``WITH``). Four more things differ here:

* **Locking.** Transactions run at READ COMMITTED. Workers pick work with
  ``FOR UPDATE OF w SKIP LOCKED`` (competing consumers pass each other by instead of
  queueing), and every check-then-write reads the row it will change ``FOR UPDATE``.
  An instance is leased (lock owner, token and expiry on its row) for one episode; a
  commit re-checks the token under the row lock, so a worker whose lease was taken over
  changes nothing.
* **Notifications.** Each write transaction that creates work sends one NOTIFY on the
  task hub's channel; a dedicated LISTEN connection per backend object wakes idle
  waiters (:mod:`durably.backends._pg_listen`). Polling remains the fallback.
* **Pipelining.** A transaction's statements go out without waiting for each answer
  where they can (:mod:`durably.backends._pg_pipeline`).
* **Connections.** A pool (``pool_min``..``pool_max`` connections) serves every thread;
  a connection the server dropped is noticed before use and replaced, and the pool
  reconnects in the background with backoff while the server is away. An operation
  whose connection breaks is tried again on another for up to ``pool_timeout`` (a
  client's start, event or purge first checks whether the broken try wrote after all);
  other driver errors surface as :class:`~durably.errors.StoreError`, which the worker's
  loops retry.

The schema is created on first use inside a transaction holding an advisory lock, so
processes that start at once against an empty database do not race.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Self, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from durably.backends import _pg_pipeline
from durably.backends._codec import to_micros
from durably.backends._pg_connections import live_connection, server_away
from durably.backends._pg_listen import Listener, channel_name, encode_payload
from durably.backends.base import (
    ActivityWorkItem,
    BackendOptions,
    NewInstance,
    NewMessage,
    WorkKind,
)
from durably.backends.sql import activities, rows
from durably.backends.sql.backend import SqlBackend
from durably.backends.sql.dialect import POSTGRES, Cursor, Disconnected, SerialCursor
from durably.backends.sql.schema import migrate, migrations
from durably.backends.sql.schema import version as schema_version
from durably.backends.sql.tx import Tx
from durably.errors import InstanceNotFoundError, StoreError

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_N = TypeVar("_N", int, float)
_OPTIONS = ("schema", "pool_min", "pool_max", "pool_timeout", "poll_interval")
RECONNECT_ATTEMPT_SECONDS = 5.0
"""How long the pool keeps retrying one new connection before it starts over."""


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
        self.reconnect_for = pool_timeout
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"invalid PostgreSQL connection string: {exc}") from None
        self.schema = schema
        self.where = _describe(params)
        self._conninfo = conninfo
        self._kwargs = _connect_kwargs(params, schema)
        self.conninfo = conninfo
        """The connection string (for other connections to the same store)."""
        self.connect_kwargs = dict(self._kwargs)
        """What each connection is opened with (the schema's search path among them)."""
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
                # The pool adds connections one attempt at a time, each retried with a
                # doubling delay until it gives up: a long give-up lets a few failures
                # in a row (restarts close together) delay it by minutes after the
                # server is back. Given up, the next request starts a fresh attempt.
                reconnect_timeout=RECONNECT_ATTEMPT_SECONDS,
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
        """Bring the schema up to date. A server that is away (restarting, failing over,
        not yet listening) is waited for, up to ``pool_timeout``; an error of its answer
        (a refused login, a missing database) is reported at once."""
        deadline = time.monotonic() + self.reconnect_for
        pause = 0.1
        while True:
            try:
                return self._migrate_once()
            except psycopg.OperationalError as exc:
                if not server_away(exc) or time.monotonic() + pause > deadline:
                    raise StoreError(f"cannot open PostgreSQL store {self.where}: {exc}") from exc
                if pause == 0.1:
                    log.warning("PostgreSQL store %s is unreachable, retrying: %s", self.where, exc)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
            except psycopg.Error as exc:
                raise StoreError(f"cannot open PostgreSQL store {self.where}: {exc}") from exc

    def _migrate_once(self) -> None:
        with (
            psycopg.Connection.connect(self._conninfo, **self._kwargs) as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            tx = Tx(SerialCursor(cursor), POSTGRES, self.task_hub)
            if _schema_version(tx) == len(migrations(POSTGRES)):
                return  # the common case: no lock, no DDL (the role may lack the right)
            # Serialise migrators across processes; the lock ends with the transaction.
            tx.execute("SELECT pg_advisory_xact_lock(?)", _lock_key(self.schema))
            if self.schema and not tx.one(
                "SELECT 1 FROM pg_namespace WHERE nspname = ?", self.schema
            ):
                cursor.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
            migrate(tx)

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
        with (
            self._translated(),
            self._connection() as connection,
            _pg_pipeline.transaction(connection, durable=durable) as cursor,
        ):
            yield cursor

    @contextlib.contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        with (
            self._translated(),
            self._connection() as connection,
            connection.cursor() as cursor,
        ):
            yield SerialCursor(cursor)

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return live_connection(self._pool, self.reconnect_for)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        if self._closed:
            raise StoreError(f"the PostgreSQL store {self.where} is closed")
        try:
            yield
        except psycopg_pool.PoolTimeout as exc:  # waited pool_timeout for a connection
            raise StoreError(f"PostgreSQL store {self.where}: {exc}") from exc
        except psycopg.OperationalError as exc:  # the connection broke, or the server ended it
            raise Disconnected(f"PostgreSQL store {self.where}: {exc}") from exc
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
                if not activities.renew(tx, item, until):
                    lost.append(item.message_id)
        return lost

    # -- client calls: one statement, one round trip -----------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending); raises ``InstanceExistsError`` if it is active.

        One statement that is its own transaction: the instance, its start message and
        the NOTIFY, with no BEGIN or COMMIT to send (a taken id writes nothing and takes
        the replace-or-refuse path). A broken connection is tried again, unless the
        instance turns out to have been created by the broken try."""

        def landed() -> bool | None:
            record = self.get_instance(instance.instance_id)
            return True if record and record.execution_id == instance.execution_id else None

        self._writing_once(lambda: self._create_at_once(instance), landed)

    def _create_at_once(self, instance: NewInstance) -> bool:
        event = rows.event_text(instance.start_event, instance.input)
        row = (*rows.new_instance(self.task_hub, instance), to_micros(instance.visible_at), event)
        if not self._at_once(CREATE_AT_ONCE, row, instance.visible_at):
            super().create_instance(instance)  # the id is taken: replace, or refuse
            return True
        self._notifier.notify("orchestration", visible_at=instance.visible_at)
        self._grew(1)
        return True

    def send_message(self, message: NewMessage) -> None:
        """Enqueue an event; raises ``InstanceNotFoundError`` for an unknown instance.

        One statement that is its own transaction, as :meth:`create_instance`. A broken
        connection is tried again, unless the event turns out to be in the instance's
        inbox or history already (sent by the broken try)."""
        event = message.event.to_json()
        self._writing_once(lambda: self._send_at_once(message, event), lambda: self._has(message))

    def _send_at_once(self, message: NewMessage, event: str) -> bool:
        params = (message.execution_id, to_micros(message.visible_at), event, self.task_hub)
        if not self._at_once(ENQUEUE_AT_ONCE, (*params, message.instance_id), message.visible_at):
            raise InstanceNotFoundError(message.instance_id)
        self._notifier.notify("orchestration", visible_at=message.visible_at)
        return True

    def _has(self, message: NewMessage) -> bool | None:
        """True if ``message``'s event is in its instance's inbox or history, else None."""
        text = message.event.to_json()
        params = (self.task_hub, message.instance_id, text) * 2
        found = self._reading(lambda tx: tx.one(SENT, *params))
        return True if found else None

    def _at_once(self, template: str, params: tuple[Any, ...], visible_at: _dt.datetime) -> int:
        """Run a statement that writes and NOTIFYs in a transaction of its own (the
        connections are in autocommit mode); the count of rows it reports."""
        payload = encode_payload(self._sender, [("orchestration", visible_at)])
        with self._translated(), self._connection() as connection:
            row = connection.execute(template, (*params, self._channel, payload)).fetchone()
        return int(row[0]) if row is not None else 0

    # -- for the AsyncClient's own connections (durably.backends._pg_async) -------------
    def notice(self, kind: WorkKind, visible_at: _dt.datetime | None = None) -> tuple[str, str]:
        """The channel and payload of a NOTIFY that wakes other processes' ``kind``
        waiters, for a write made on another connection."""
        return self._channel, encode_payload(self._sender, [(kind, visible_at)])

    def wrote(
        self, kind: WorkKind, visible_at: _dt.datetime | None = None, *, created: int = 0
    ) -> None:
        """A write made on another connection committed: wake this process's waiters."""
        self._notifier.notify(kind, visible_at=visible_at)
        if created:
            self._grew(created)

    def _grew(self, created: int) -> None:
        # A new database has no planner statistics until autovacuum's first analyze
        # (up to a minute after the tables fill): until then picking work scans the whole
        # task hub. After this process's first 1,000 and 10,000 starts, analyze at once.
        before, self._created = self._created, self._created + created
        if any(before < mark <= self._created for mark in _ANALYZE_AT):
            threading.Thread(target=self._analyze, name="durably-analyze", daemon=True).start()

    def _analyze(self) -> None:
        try:
            with self._connection() as connection:
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
CREATE_AT_ONCE = (
    # The instance, then its start message and the NOTIFY only if the row was inserted.
    "WITH created AS (INSERT INTO durably_instances (task_hub, instance_id, name,"
    " execution_id, runtime_status, input, created_time, last_updated_time,"
    " parent_instance_id, version, version_key, history_length)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)"
    " ON CONFLICT (task_hub, instance_id) DO NOTHING"
    " RETURNING task_hub, instance_id, execution_id),"
    " message AS (INSERT INTO durably_inbox (task_hub, instance_id, execution_id, visible_at,"
    " event) SELECT task_hub, instance_id, execution_id, %s, %s FROM created RETURNING 1)"
    " SELECT count(*), pg_notify(%s, %s) FROM message HAVING count(*) > 0"
)
ENQUEUE_AT_ONCE = (
    # The message and the NOTIFY only if the instance exists.
    "WITH message AS (INSERT INTO durably_inbox (task_hub, instance_id, execution_id,"
    " visible_at, event) SELECT task_hub, instance_id, %s, %s, %s FROM durably_instances"
    " WHERE task_hub = %s AND instance_id = %s RETURNING 1)"
    " SELECT count(*), pg_notify(%s, %s) FROM message HAVING count(*) > 0"
)
SENT = (
    # A message's event, still in the inbox or already in history (a history row holds
    # one event's JSON, or an array of them: the event's text is part of it either way).
    "SELECT 1 FROM durably_inbox WHERE task_hub = ? AND instance_id = ? AND event = ?"
    " UNION ALL SELECT 1 FROM durably_history WHERE task_hub = ? AND instance_id = ?"
    " AND strpos(event, ?) > 0 LIMIT 1"
)
_ANALYZE_AT = (1_000, 10_000)
"""Instances created by a process after which it analyzes the tables (see _grew)."""
_ANALYZE = "ANALYZE durably_instances, durably_inbox, durably_history, durably_activities"


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
    return schema_version(tx)
