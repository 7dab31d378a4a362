"""In-process wake-ups behind :meth:`FastPaths.wait_for_work` (every store of this package).

One :class:`threading.Event` per work kind: writers ``notify`` after they commit, waiters
``wait`` then clear. Clearing *after* the wait cannot lose a wake-up because callers poll
the store after every return, so whatever was committed before the clear is seen by that
poll (several waiters may share one wake-up: the one that clears polls for all).

The notifier also remembers when enqueued work that is not yet visible (timer messages,
delayed activity work) comes due, and shortens waits so a waiter is back in time for it.

It also keeps the open status watches (:meth:`Backend.watch_status`): a commit that
finishes a watched instance hands its record to the watch before waking status waiters.

The wall clock is read here only to compute wait timeouts, never to decide what is visible.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import heapq
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import get_args

from durably.backends._codec import utc
from durably.backends.base import InstanceRecord, OrchestrationCommit, StatusWatch, WorkKind

KINDS: tuple[WorkKind, ...] = get_args(WorkKind)


class Notifier:
    """Per-kind wake-up events plus the due times of not-yet-visible work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events = {kind: threading.Event() for kind in KINDS}
        self._due: dict[WorkKind, list[float]] = {kind: [] for kind in KINDS}
        self._watches: dict[str, list[StatusWatch]] = {}

    def notify(self, kind: WorkKind, *, visible_at: _dt.datetime | None = None) -> None:
        """Wake the waiters of ``kind``; remember ``visible_at`` if it is in the future.

        The event is set even for future work: current waiters then recompute their
        timeout against the new due time (a spurious return, which the protocol allows).
        """
        if visible_at is not None:
            due = visible_at.timestamp()
            if due > time.time():
                with self._lock:
                    heapq.heappush(self._due[kind], due)
        self._events[kind].set()

    @contextlib.contextmanager
    def watch(self, instance_id: str) -> Iterator[StatusWatch]:
        """A watch on ``instance_id`` for the duration of the block."""
        watch = StatusWatch(instance_id)
        with self._lock:
            self._watches.setdefault(instance_id, []).append(watch)
        try:
            yield watch
        finally:
            with self._lock:
                watches = self._watches[instance_id]
                watches.remove(watch)
                if not watches:
                    del self._watches[instance_id]

    def watched(self, instance_id: str) -> bool:
        """Whether a watch is open on ``instance_id``. Asked after the commit: a watch
        opened later reads the store after that commit, so it misses nothing."""
        return instance_id in self._watches

    def committed(self, commits: Sequence[OrchestrationCommit], *, claiming: bool) -> None:
        """Wake what applied ``commits`` give work to (for a store without a ledger of
        notes per transaction): status waiters, orchestration waiters (a released lock
        can expose messages that arrived meanwhile), the due times of their messages and
        new instances, and their activities (the claimed ones, with ``claiming``, are the
        committing worker's already)."""
        self.tell_watches(commits)
        self.notify("status")
        self.notify("orchestration")
        for commit in commits:
            for message in commit.messages:
                self.notify("orchestration", visible_at=message.visible_at)
            for new in commit.new_instances:
                self.notify("orchestration", visible_at=new.visible_at)
            claimed = commit.claim.count if claiming and commit.claim is not None else 0
            for task in commit.activities[claimed:]:
                self.notify("activity", visible_at=task.visible_at)

    def tell_watches(self, commits: Iterable[OrchestrationCommit]) -> None:
        """Hand the watches of the instances these commits finished their records
        (stamped as a store gives them back) and wake the status waiters."""
        for commit in commits:
            if commit.finishes and self.watched(commit.work_item.instance.instance_id):
                record = commit.committed_record()
                stamp = utc(record.last_updated_time)
                self.finished(dataclasses.replace(record, last_updated_time=stamp))

    def finished(self, record: InstanceRecord) -> None:
        """A commit brought ``record``'s instance to a terminal status: tell its watches
        and wake the status waiters."""
        with self._lock:
            for watch in self._watches.get(record.instance_id, ()):
                watch.record = record
        self._events["status"].set()

    def notify_all(self) -> None:
        """Wake every waiter of every kind (used on close so no thread sleeps on)."""
        for event in self._events.values():
            event.set()

    def wait(self, kind: WorkKind, timeout: float) -> bool:
        """Wait until notified, until known work comes due, or ``timeout`` seconds pass.

        Returns True when woken by a notification or a due time, False on a plain timeout.
        """
        now = time.time()
        with self._lock:
            if self._pop_due(kind, now):
                return True
            heap = self._due[kind]
            limited = bool(heap) and heap[0] - now < timeout
            if limited:
                timeout = heap[0] - now
        event = self._events[kind]
        woke = event.wait(max(timeout, 0.0))
        if woke:
            # Clear only what woke us: a notification that lands after a timeout stays
            # set, so the next wait returns at once instead of losing it.
            event.clear()
        with self._lock:
            self._pop_due(kind, time.time())
        return woke or limited

    def _pop_due(self, kind: WorkKind, now: float) -> bool:
        heap = self._due[kind]
        popped = False
        while heap and heap[0] <= now:
            heapq.heappop(heap)
            popped = True
        return popped
