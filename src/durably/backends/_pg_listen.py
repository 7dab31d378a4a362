"""Wake-ups across processes for the PostgreSQL backend: NOTIFY out, LISTEN in.

Every write transaction that creates work sends one ``pg_notify`` on the task hub's
channel (delivered by PostgreSQL only when the transaction commits, so a woken waiter
always sees what woke it). Each backend object keeps one dedicated connection that
LISTENs on the channel, on a daemon thread started by the first ``wait_for_work``, and
feeds what it hears into the in-process :class:`~durably.backends._notify.Notifier`.

The payload names the sender (a backend ignores its own notes: it delivered them
in-process already) and, per kind of work, the earliest future visibility time if the
work is not due yet (timers, retries, lease expiries), so remote waiters come back in
time for it. The listener also asks the store for the earliest future visibility time
when it connects and every few seconds afterwards: it then knows about timers created
before this process started, too.

When the connection breaks (server restart, ``pg_terminate_backend``, network) the
listener reconnects with capped exponential backoff and jitter; while it is down
:meth:`Listener.connected` is False and the backend shortens waits to its poll interval,
so work is still found. After every (re)connection it wakes every waiter once: whatever
was committed while nobody listened is found by the poll that follows.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from durably.backends._codec import from_micros, to_micros
from durably.backends._notify import KINDS, Notifier
from durably.backends.base import WorkKind

log = logging.getLogger("durably.backends.postgres")

_NOTIFY_TIMEOUT = 1.0
"""Seconds one LISTEN wait lasts before the thread checks whether it should stop."""
_DUE_REFRESH = 5.0
"""Seconds between queries for the earliest not-yet-visible work."""
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0
_DUE_KINDS: tuple[WorkKind, WorkKind] = ("orchestration", "activity")

EARLIEST_DUE = (
    "SELECT (SELECT MIN(visible_at) FROM durably_inbox WHERE task_hub = %s AND visible_at > %s),"
    " (SELECT MIN(visible_at) FROM durably_activities WHERE task_hub = %s AND visible_at > %s)"
)


def channel_name(schema: str | None, task_hub: str) -> str:
    """The LISTEN channel of a task hub (a hash: hub names may be longer than 63 bytes)."""
    digest = hashlib.sha256(f"{schema or ''}/{task_hub}".encode()).hexdigest()
    return f"durably_{digest[:24]}"


def encode_payload(sender: str, notes: Iterable[tuple[WorkKind, _dt.datetime | None]]) -> str:
    """``sender kind[:due] ...``: each kind once, with its earliest future due time, if all
    of that kind's work is in the future (microseconds since the epoch)."""
    now = to_micros(_dt.datetime.now(_dt.UTC))
    due: dict[WorkKind, int | None] = {}
    for kind, visible_at in notes:
        at = to_micros(visible_at) if visible_at is not None else None
        if at is None or at <= now:
            due[kind] = None
        elif kind not in due:
            due[kind] = at
        elif (known := due[kind]) is not None:
            due[kind] = min(known, at)
    parts = [kind if at is None else f"{kind}:{at}" for kind, at in due.items()]
    return " ".join([sender, *parts])


def decode_payload(payload: str) -> tuple[str, list[tuple[WorkKind, _dt.datetime | None]]]:
    """The sender and the notes of a payload; malformed parts are skipped."""
    sender, _, rest = payload.partition(" ")
    notes: list[tuple[WorkKind, _dt.datetime | None]] = []
    for part in rest.split():
        name, _, at = part.partition(":")
        kind = next((k for k in KINDS if k == name), None)
        if kind is None:
            continue
        if not at:
            notes.append((kind, None))
        elif at.isdigit():
            notes.append((kind, from_micros(int(at))))
    return sender, notes


class Listener:
    """One LISTEN connection on a daemon thread, feeding ``notifier``; reconnects forever.

    ``conninfo`` and ``connect_kwargs`` open the connection (the pool's settings);
    ``task_hub`` scopes the due-time query. :meth:`start` is idempotent; :meth:`stop`
    returns at once (the thread closes its connection within about a second).
    """

    def __init__(
        self,
        *,
        conninfo: str,
        connect_kwargs: Mapping[str, Any],
        channel: str,
        task_hub: str,
        sender: str,
        notifier: Notifier,
    ) -> None:
        self._conninfo = conninfo
        self._kwargs = {**connect_kwargs, "autocommit": True}
        self._channel = channel
        self._hub = task_hub
        self._sender = sender
        self._notifier = notifier
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._known_due: dict[WorkKind, int] = {}

    @property
    def connected(self) -> bool:
        """True while the LISTEN connection is up (notifications are being received)."""
        return self._connected.is_set()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"durably-listen-{self._channel[-8:]}", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        delay = _BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                with psycopg.Connection.connect(self._conninfo, **self._kwargs) as connection:
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    delay = _BACKOFF_FIRST
                    self._connected.set()
                    self._notifier.notify_all()  # poll for what was missed while deaf
                    self._listen(connection)
            except Exception as exc:  # psycopg errors, and anything else: never die
                if self._stopping.is_set():
                    break
                log.warning(
                    "LISTEN connection to PostgreSQL lost (%s); reconnecting in %.1f s",
                    exc,
                    delay,
                )
            finally:
                if self._connected.is_set():
                    self._connected.clear()
                    self._notifier.notify_all()  # waiters fall back to polling at once
            if self._stopping.wait(delay * random.uniform(0.8, 1.2)):
                break
            delay = min(delay * 2, _BACKOFF_MAX)

    def _listen(self, connection: psycopg.Connection[Any]) -> None:
        next_refresh = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_refresh:
                self._refresh_due(connection)
                next_refresh = time.monotonic() + _DUE_REFRESH
            for notify in connection.notifies(timeout=_NOTIFY_TIMEOUT):
                sender, notes = decode_payload(notify.payload)
                if sender == self._sender:
                    continue
                for kind, visible_at in notes:
                    self._notifier.notify(kind, visible_at=visible_at)

    def _refresh_due(self, connection: psycopg.Connection[Any]) -> None:
        now = to_micros(_dt.datetime.now(_dt.UTC))
        row = connection.execute(EARLIEST_DUE, (self._hub, now, self._hub, now)).fetchone()
        if row is None:
            return
        for kind, due in zip(_DUE_KINDS, row, strict=True):
            # Tell the notifier only about a new due time: each notification is also a
            # (spurious) wake-up of the current waiters.
            if due is not None and self._known_due.get(kind) != due:
                self._known_due[kind] = due
                self._notifier.notify(kind, visible_at=from_micros(int(due)))
