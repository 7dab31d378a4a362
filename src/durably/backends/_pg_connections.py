"""Connections to PostgreSQL: a live one from the pool, and whether a failed connect
means the server is away for now.

psycopg_pool's own check before lending sleeps longer after each dead connection it
finds, so after a restart (every idle connection dead) a call could wait its whole
timeout for a server back seconds ago; durably checks connections itself instead.
"""

from __future__ import annotations

import contextlib
import logging
import select
import time
import weakref
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool


@contextlib.contextmanager
def live_connection(
    pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]], timeout: float
) -> Iterator[psycopg.Connection[Any]]:
    """A live connection of ``pool`` for the block, committed at its end (rolled back
    if it raises) and given back; ``PoolTimeout`` after ``timeout`` seconds without one.

    Dead connections are discarded one after the other without a pause, and while the
    pool has none ready the wait is cut into slices, each asking the pool to connect
    again (a pool that gave up connecting while the server was away does not try again
    by itself).
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            connection = pool.getconn(timeout=max(min(remaining, 1.0), 0.001))
        except psycopg_pool.PoolTimeout:
            if remaining <= 1.0:
                raise psycopg_pool.PoolTimeout(
                    f"couldn't get a connection after {timeout:.2f} sec"
                ) from None
            continue
        if _alive(connection):
            break
        connection.close()  # a closed connection given back is replaced
        _DISCARDED.add(connection)
        pool.putconn(connection)
        if time.monotonic() > deadline:  # dead on arrival, again and again
            raise psycopg_pool.PoolTimeout(f"couldn't get a live connection in {timeout:.2f} sec")
    try:
        with connection:
            yield connection
    finally:
        pool.putconn(connection)


_BUSY_SERVER = ("the database system is", "too many clients", "remaining connection slots")
"""What a server that answers a connection says when it is away only for now (shutting
down, starting up, in recovery, full). libpq gives no SQLSTATE for a failed connection:
its message is all there is."""


def server_away(exc: psycopg.OperationalError) -> bool:
    """Whether connecting failed because the server is away for now: no answer at all
    (refused, unreachable, timed out), or an answer that says so. A login it refused or
    a database it does not have is no reason to wait."""
    message = str(exc)
    return "FATAL:" not in message or any(busy in message for busy in _BUSY_SERVER)


class _QuietDiscards(logging.Filter):
    """psycopg_pool warns of every closed connection given back to it. One durably
    found dead before use and closed on purpose is expected (every idle connection is
    after a restart): that warning is dropped, the pool's others are kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and isinstance(args[0], psycopg.Connection) and args[0] in _DISCARDED)


_DISCARDED: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
logging.getLogger("psycopg.pool").addFilter(_QuietDiscards())


def _alive(connection: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection can be lent: no round trip, just the socket.

    An idle connection has nothing to read unless the server said goodbye (a restart or
    ``pg_terminate_backend`` sends an error and closes the socket). A rare asynchronous
    notice would make us drop a good connection: a cheap reconnect, never a failed call.
    """
    return not (connection.closed or connection.broken or _readable(connection.fileno()))


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # not limited to descriptors below FD_SETSIZE
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows
