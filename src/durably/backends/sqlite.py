"""SqliteBackend: durably's store in one SQLite file, on the standard library only.

The file is in WAL mode so readers never block the writer. Write transactions start with
``BEGIN IMMEDIATE``: they take the database's write lock up front, so every check-then-
write in the shared SQL is serialised across threads *and* processes, and a transaction
never has to be retried half way for a lock upgrade. In this process one writer connection
behind a lock serves every thread; each thread reads on its own connection.

``synchronous=FULL`` (the default) makes a commit durable when it returns; ``NORMAL``
(opt-in) may lose the last commits on power loss but never corrupts the file.
Other processes' commits are noticed by polling ``PRAGMA data_version`` while waiting.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Self
from urllib.parse import quote, unquote, urlsplit

from durably.backends.base import BackendOptions, WorkKind
from durably.backends.sql import picking
from durably.backends.sql.backend import SqlBackend
from durably.backends.sql.dialect import SQLITE, Cursor, SerialCursor
from durably.backends.sql.schema import migrate
from durably.backends.sql.tx import Tx
from durably.errors import StoreError

_SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")
_MAX_BATCH = 256
"""Writes sharing one commit at most (bounds the wait of the first writer in a batch)."""


class _Batch:
    """The writes of several threads that one COMMIT makes durable together."""

    __slots__ = ("done", "durable", "error", "size")

    def __init__(self, durable: bool) -> None:
        self.durable = durable
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.size = 0


class _Reader:
    """A thread's read connection; closed when the thread (and its locals) go away."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        weakref.finalize(self, connection.close)


class SqliteBackend(SqlBackend):
    """A :class:`~durably.backends.base.Backend` on a SQLite file.

    ``busy_timeout`` is how long (seconds) to wait for another process's write lock;
    ``poll_interval`` how often (seconds) a waiter checks for other processes' commits
    (0 disables it: then only this process's commits wake waiters). A file that holds
    another application's tables is refused (``StoreError``) unless
    ``allow_foreign_tables``: durably would add its tables and switch it to WAL mode.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        task_hub: str = "default",
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        poll_interval: float = 0.1,
        allow_foreign_tables: bool = False,
    ) -> None:
        super().__init__(dialect=SQLITE, task_hub=task_hub)
        self.path = os.fspath(path)
        if self.path == ":memory:" or self.path.startswith("file:"):
            raise ValueError("SqliteBackend needs a file path; use memory:// for a scratch store")
        if os.path.isdir(self.path):
            raise ValueError(f"the SQLite store {self.path!r} is a directory, not a file")
        if not allow_foreign_tables:
            _refuse_foreign_tables(self.path)
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._closed = False
        self._reads = 0  # reads under way (see _read_cursor)
        self._reads_idle = threading.Condition()
        self._write_lock = threading.Lock()
        self._gate = threading.Lock()
        self._wanting = 0
        self._prompt = 0  # prompt writes among the wanting
        self._batch: _Batch | None = None
        self._level = self._synchronous
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._writer = self._connect()
        try:
            with self._write() as tx:
                migrate(tx)
        except BaseException:
            self._writer.close()
            raise

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        """Open ``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``.

        Options: ``synchronous`` (FULL or NORMAL), ``busy_timeout`` and ``poll_interval``
        (seconds), ``allow_foreign_tables`` (true to share a file with other tables).
        """
        extra = dict(options.extra)
        synchronous = extra.pop("synchronous", "FULL")
        busy_timeout = float(extra.pop("busy_timeout", "30"))
        poll_interval = float(extra.pop("poll_interval", "0.1"))
        foreign = extra.pop("allow_foreign_tables", "false").lower()
        if extra:
            raise ValueError(f"unknown sqlite:// options: {', '.join(sorted(extra))}")
        if foreign not in ("true", "false"):
            raise ValueError(f"allow_foreign_tables must be true or false, not {foreign!r}")
        parts = urlsplit(url)
        path = unquote(parts.path)
        shape = f"a SQLite store URL looks like sqlite:///path.db, not {url!r}"
        if not url.lower().startswith("sqlite://") or parts.netloc or len(path) < 2:
            raise ValueError(shape)
        if path.endswith("/"):
            raise ValueError(f"{shape}: it names a directory")
        return cls(
            path[1:],
            task_hub=options.task_hub,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            poll_interval=poll_interval,
            allow_foreign_tables=foreign == "true",
        )

    # -- connections ---------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False
            # because connections are shared (writer) or closed from another thread.
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        try:
            self._use_wal(connection)
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        return connection

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        # Turning a new file into WAL mode needs an exclusive lock, and SQLite does not
        # call the busy handler for it: a second process opening a fresh store at the same
        # moment (`durably worker &` then `durably start`) fails at once with "database is
        # locked". Retry, like the busy handler would, for up to busy_timeout.
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the SQLite store {self.path!r} is closed")
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = _Reader(self._connect())
            self._local.reader = reader
            self._readers.add(reader)
        return reader.connection

    def _write_cursor(self, *, prompt: bool = False) -> contextlib.AbstractContextManager[Cursor]:
        return self._batched(durable=True, prompt=prompt)

    def _lease_cursor(self) -> contextlib.AbstractContextManager[Cursor]:
        # Lease changes commit without an fsync (synchronous=NORMAL for that transaction):
        # a crash may forget one, which only frees a lease early. The next durable commit
        # flushes the WAL up to and including it, so ordering is never broken.
        return self._batched(durable=self._synchronous == "NORMAL")

    @contextlib.contextmanager
    def _batched(self, *, durable: bool, prompt: bool = False) -> Iterator[Cursor]:
        # Group commit: threads that want to write while a transaction is open join it,
        # each inside its own savepoint (an error undoes only that thread's writes), and
        # the last writer in line commits for all of them. One fsync then covers many
        # episodes, activity results and client calls; nobody returns before the commit
        # that holds their writes is durable. A prompt write (a client call) does not
        # wait for the worker's writes in line behind it, which may run a batch of
        # episodes first: it commits unless another prompt write is in line to share it.
        with self._gate:
            self._wanting += 1
            self._prompt += prompt
        batch: _Batch | None = None
        failure: BaseException | None = None
        lead = False
        self._write_lock.acquire()
        try:
            with self._translated():
                if self._closed:
                    raise StoreError(f"the SQLite store {self.path!r} is closed")
                batch, savepoint = self._join_batch(durable)
                cursor = self._writer.cursor()
                # Reads by this thread meanwhile (an episode replaying its history inside
                # run_episodes) go through this transaction: it may hold other threads'
                # writes that are not committed yet, which a reader connection cannot see.
                self._local.writing = True
                try:
                    yield SerialCursor(cursor)
                    if savepoint:
                        self._writer.execute("RELEASE op")
                except BaseException as exc:
                    failure = exc
                    self._undo_op(batch, exc, savepoint)
                    raise
                finally:
                    self._local.writing = False
                    cursor.close()
        finally:
            with self._gate:
                self._wanting -= 1
                self._prompt -= prompt
                lead = (
                    batch is not None
                    and batch is self._batch
                    and (
                        self._wanting == 0
                        or batch.size >= _MAX_BATCH
                        or (prompt and self._prompt == 0)
                    )
                )
            if lead:
                assert batch is not None
                self._commit_batch(batch)
            self._write_lock.release()
        if failure is None and batch is not None:
            batch.done.wait()
            if batch.error is not None:
                raise StoreError(f"SQLite store {self.path!r}: {batch.error}") from batch.error

    def _join_batch(self, durable: bool) -> tuple[_Batch, bool]:
        """The open batch (begun if none), and whether this op got a savepoint: the first
        op of a batch needs none, since undoing it is rolling back the transaction."""
        batch = self._batch
        if batch is not None and durable and not batch.durable:
            # A durable write cannot ride on a batch that will commit without a flush:
            # commit that batch now (its writers are only waiting) and start another.
            self._commit_batch(batch)
            batch = None
        if batch is None:
            level = self._synchronous if durable else "NORMAL"
            if level != self._level:
                self._writer.execute(f"PRAGMA synchronous={level}")
                self._level = level
            self._writer.execute("BEGIN IMMEDIATE")
            batch = self._batch = _Batch(durable)
        batch.size += 1
        if batch.size == 1:
            return batch, False
        self._writer.execute("SAVEPOINT op")
        return batch, True

    def _undo_op(self, batch: _Batch, error: BaseException, savepoint: bool) -> None:
        writer = self._writer
        if savepoint and writer.in_transaction:
            writer.execute("ROLLBACK TO op")
            writer.execute("RELEASE op")
            return
        if not savepoint:
            # The batch's first op, alone in it (nobody joins while we hold the lock):
            # rolling the transaction back undoes exactly this op.
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            self._batch = None
            batch.done.set()
            return
        # SQLite rolled the whole transaction back (I/O error, full disk): the batch's
        # other writes are gone too, so everyone in it fails.
        batch.error = error
        self._batch = None
        batch.done.set()

    def _commit_batch(self, batch: _Batch) -> None:
        self._batch = None
        try:
            self._writer.execute("COMMIT")
        except sqlite3.Error as exc:
            batch.error = exc
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
        finally:
            batch.done.set()

    @contextlib.contextmanager
    def _read_cursor(self) -> Iterator[Cursor]:
        # Counted, so that close() never closes a connection another thread reads on
        # (sqlite3 does not survive that).
        with self._reads_idle:
            if self._closed:
                raise StoreError(f"SQLite store {self.path!r} is closed")
            self._reads += 1
        try:
            with self._translated():
                writing = getattr(self._local, "writing", False)
                cursor = (self._writer if writing else self._reader()).cursor()
                try:
                    yield SerialCursor(cursor)
                finally:
                    cursor.close()
        finally:
            with self._reads_idle:
                self._reads -= 1
                if not self._reads:
                    self._reads_idle.notify_all()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc

    # -- what a write transaction holding the whole database changes ---------------
    def _may_have_orchestration_work(self, now: _dt.datetime) -> bool:
        # A read first: an idle poll must not take the database's write lock.
        with self._read() as tx:
            return picking.has_orchestration_work(tx, now)

    def _wake_for_arrivals(self, tx: Tx, instance_ids: Sequence[str]) -> None:
        # Nothing to do: no message can arrive for an instance between its hold and its
        # commit, which are one transaction holding the write lock.
        pass

    # -- wake-ups and lifecycle ----------------------------------------------------
    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Wait for this process's notifications, or for any commit by another process."""
        if self._closed:
            return
        if self._poll_interval <= 0:
            self._notifier.wait(kind, timeout)
            return
        deadline = time.monotonic() + timeout
        seen = self._data_version()
        while (remaining := deadline - time.monotonic()) > 0:
            if self._notifier.wait(kind, min(remaining, self._poll_interval)):
                return
            if self._closed or self._data_version() != seen:
                return

    def _data_version(self) -> int:
        # Changes whenever another connection (another process, or our writer) commits.
        with self._read_cursor() as cursor:
            cursor.execute("PRAGMA data_version", ())
            return int(cursor.fetchone()[0])

    def close(self) -> None:
        """Close every connection; the backend is unusable afterwards."""
        with self._reads_idle:
            self._closed = True
            # Reads under way on other threads finish first (they are short).
            self._reads_idle.wait_for(lambda: not self._reads, timeout=10)
        with self._write_lock:
            self._writer.close()
        for reader in list(self._readers):
            reader.connection.close()
        self._notifier.notify_all()


def _refuse_foreign_tables(path: str) -> None:
    """``StoreError`` if the file at ``path`` is a database with other tables than
    durably's (nothing for a file that does not exist yet or is empty)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    try:
        uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            names = [row[0] for row in connection.execute(_FOREIGN_TABLES)]
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite store {path!r}: {exc}") from exc
    if names:
        raise StoreError(
            f"the SQLite file {path!r} holds another application's tables "
            f"({', '.join(sorted(names))}): durably would add its own and switch the file to "
            "WAL mode. Use a file of its own, or pass allow_foreign_tables=true to share it."
        )


_FOREIGN_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table'"
    " AND name NOT LIKE 'durably\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
)
