"""PostgreSQL transactions in pipeline mode: statements sent without waiting for each.

A transaction's writes whose results nobody reads (history rows, consumed messages, new
activity work, NOTIFY) are only sent; a statement whose answer is needed at once takes
them along and waits for everything in one round trip; the COMMIT's round trip answers
what was wanted only after the commit (:meth:`PipelinedCursor.at_commit`). A guarded
write is sent the same way: :func:`durably_refuse_if_none` (schema version 2) aborts the
transaction with SQLSTATE ``DU001`` if it changed no row, which surfaces as
:class:`~durably.backends.sql.dialect.Refused`.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import pq

from durably.backends.sql.dialect import Answer, Cursor, Refused, SerialCursor

SUPPORTED = psycopg.Pipeline.is_supported()
"""libpq 14 or later: statements can be sent without waiting for each result."""
REFUSED = "DU001"
"""The SQLSTATE of ``durably_refuse_if_none``: a guarded write changed no row."""

_VALUES = re.compile(r"^INSERT INTO [^;]* VALUES (\((?:%s, )*%s\))$")
"""An INSERT of one row of parameters (the row is group 1)."""
_MAX_ROWS = 64
"""Rows per multi-row INSERT (each row count is another prepared statement)."""


@contextlib.contextmanager
def transaction(connection: psycopg.Connection[Any], *, durable: bool) -> Iterator[Cursor]:
    """A transaction on ``connection`` (in autocommit mode), pipelined where libpq can.

    ``durable=False`` commits without waiting for the WAL flush (lease-only writes).
    Raises :class:`Refused` when a guarded write refused, ``psycopg.Error`` otherwise.
    """
    if not SUPPORTED:
        with _refusals(), connection.transaction(), connection.cursor() as cursor:
            yield SerialCursor(cursor)
        return
    # BEGIN and COMMIT are sent by hand: connection.transaction() in pipeline mode waits
    # for the server more often. The COMMIT is answered by the round trip that leaving
    # the pipeline makes anyway.
    try:
        with (
            _refusals(),
            connection.pipeline() as pipeline,
            connection.cursor() as cursor,
            connection.cursor() as queue,
        ):
            pipelined = PipelinedCursor(cursor, queue, pipeline)
            try:
                pipelined.send("BEGIN")
                if not durable:
                    pipelined.send("SET LOCAL synchronous_commit TO OFF")
                yield pipelined
                # Sending may already read an earlier statement's error.
                pipelined.send("COMMIT")
            except BaseException:
                # Inside the pipeline, which the rollback leaves usable again. What the
                # pipeline still holds (the aborted statements after a failed one) only
                # repeats the error being raised: drain it.
                with contextlib.suppress(psycopg.Error):
                    pipeline.sync()
                _roll_back(connection)
                raise
    except (psycopg.Error, Refused):  # the COMMIT, or a statement sent before it, failed
        _roll_back(connection)
        raise
    pipelined.committed()


@functools.cache
def _guarded(sql: str) -> str:
    return f"WITH w AS ({sql} RETURNING 1) SELECT durably_refuse_if_none(count(*)) FROM w"


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """Turn the abort of ``durably_refuse_if_none`` into :class:`Refused`."""
    try:
        yield
    except psycopg.Error as exc:
        if exc.sqlstate == REFUSED:
            raise Refused from exc
        raise


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    if connection.info.transaction_status != pq.TransactionStatus.IDLE:
        connection.rollback()


class PipelinedCursor:
    """A :class:`~durably.backends.sql.dialect.Cursor` of a transaction in pipeline mode.

    ``executemany`` statements are only sent; the next ``execute``, whose result (a row
    count, rows) is needed at once, takes them along and waits for everything in one
    round trip. An error in a sent statement surfaces there, or at COMMIT, and aborts the
    transaction like any other. The sent statements use a cursor of their own, so their
    results never mix with the ones read.
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
        self._after: list[tuple[psycopg.Cursor[Any], Callable[[Answer], None]]] = []

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

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def send(self, sql: str) -> None:
        """Send a statement without parameters or an answer (BEGIN, COMMIT, SET)."""
        self._queue.execute(sql)

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

    def at_commit(self, sql: str, params: Sequence[Any], then: Callable[[Answer], None]) -> None:
        """Send a statement whose answer ``then`` gets after the COMMIT's round trip."""
        cursor = self._cursor.connection.cursor()
        cursor.execute(sql, params)
        self._after.append((cursor, then))

    def write_or_refuse(self, sql: str, params: Sequence[Any]) -> None:
        """Send a guarded write without waiting: if it changes no row, the server aborts
        the transaction (see the module docstring)."""
        self._queue.execute(_guarded(sql), params)

    def committed(self) -> None:
        """The COMMIT's round trip is done: answer the :meth:`at_commit` statements."""
        for cursor, then in self._after:
            try:
                then(cursor)
            finally:
                cursor.close()
        self._after.clear()
