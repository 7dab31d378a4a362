"""Handing activity results on: run the next episode at once, or deliver to the inbox.

A finished activity's result goes one of three ways. With nothing else to deliver, the
pool thread that ran it delivers it itself: the episode runs there, at once, and the
next activity it claims runs on that same thread (a sequence of steps needs no hand-off
at all). Otherwise the result joins the batch of the result thread, which runs the
episodes of a whole batch in one commit. Results whose instance is busy elsewhere (or
with direct episodes off) are delivered through the instance's inbox. Meanwhile the
leases of the activities in flight are renewed.

A result applied in an episode must still be under its activity's lease: once the lease
ran out, another worker may have run the activity again. The store can check the lease
in the episode's transaction, at the cost of a read; it is asked to only for activities
whose lease this worker cannot vouch for by its own steady clock (taken or renewed
less than half a lease ago: the other half is the margin for clocks that disagree).
"""

from __future__ import annotations

import datetime as _dt
import logging
import queue
import threading
import time
from collections.abc import Iterable

from durably.backends.base import ActivityWorkItem, FastBackend
from durably.worker.activities import ActivityDispatcher
from durably.worker.orchestrations import OrchestrationDispatcher
from durably.worker.pool import Outcome, Slots

log = logging.getLogger("durably.worker")

Result = tuple[ActivityWorkItem, Outcome]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


# Leases are vouched for by a clock that keeps counting while the machine sleeps (a
# suspended host's leases run out by the other workers' clocks meanwhile).
_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def _elapsed() -> float:
    return time.clock_gettime(_CLOCK)


class ResultDelivery:
    """The activities a worker has in flight and the delivery of their results."""

    def __init__(
        self,
        backend: FastBackend,
        orchestrations: OrchestrationDispatcher,
        activities: ActivityDispatcher,
        *,
        slots: Slots,
        direct_episodes: bool,
        stopping: threading.Event,
        lease_seconds: float,
    ) -> None:
        self._backend = backend
        self._orchestrations = orchestrations
        self._activities = activities
        self._slots = slots
        self._direct = direct_episodes
        self._stopping = stopping
        self._results: queue.SimpleQueue[Result | None] = queue.SimpleQueue()
        # Results that found the queue full keep their slot until they are delivered, by
        # the identity of their work item (a claim may reuse the message id of a result
        # still waiting for its slot's return, for the activity that follows it).
        self._kept: set[int] = set()
        self._kept_lock = threading.Lock()
        self._lease_seconds = lease_seconds
        # Message id -> the work item in flight, and the time (by :func:`_elapsed`) until
        # which its lease is certainly this worker's.
        self._in_flight: dict[int, tuple[ActivityWorkItem, float]] = {}
        self._in_flight_lock = threading.Lock()
        self._delivering = threading.Lock()  # one delivery of results at a time

    # -- what is in flight --------------------------------------------------------
    def track(self, item: ActivityWorkItem, expires: _dt.datetime) -> None:
        """``item``, leased until ``expires``, is about to run here: renew its lease until
        its result is handed on."""
        sure = _elapsed()  # read first: the lease's rest is then counted short
        sure += (expires - _now()).total_seconds() - self._lease_seconds / 2
        with self._in_flight_lock:
            self._in_flight[item.message_id] = (item, sure)

    @property
    def idle(self) -> bool:
        """Whether no activity is in flight."""
        return not self._in_flight

    def working_on(self, instance_id: str) -> bool:
        """Whether an activity of the instance is in flight."""
        # A scan of the activities in flight (at most a few hundred): the one record of
        # them, rather than a count kept beside it (a claim may take over an entry).
        with self._in_flight_lock:
            return any(item.instance_id == instance_id for item, _ in self._in_flight.values())

    # -- outcomes -----------------------------------------------------------------
    def ran(self, item: ActivityWorkItem, outcome: Outcome | None) -> None:
        """A pool thread ran an activity: deliver the result on this thread if nothing
        else is being delivered, else hand it to the result thread's batch."""
        if (
            outcome is not None
            and self._direct
            and self._results.empty()
            and self._delivering.acquire(blocking=False)
        ):
            try:
                self._slots.give(1)
                alone = len(self._in_flight) == 1 and self._results.empty()
                self._deliver([(item, outcome)], alone=alone)
            finally:
                self._delivering.release()
            return
        self.finished(item, outcome)

    def finished(self, item: ActivityWorkItem, outcome: Outcome | None) -> None:
        """An activity ran (``outcome``) or never will here (None: hand it back).

        Its slot is given back at once, so that the pool keeps running while results
        wait for the result thread; once ``activity_concurrency`` results wait, a result
        keeps its slot until a delivery is done. Fetching then stops while delivery is
        behind: the results waiting stay under twice ``activity_concurrency``.
        """
        if outcome is None:
            self._slots.give(1)
            self._forget([item])
            try:
                self._backend.abandon_activity(item, visible_at=_now())
            except Exception:
                log.exception("could not hand back activity %d", item.message_id)
            return
        with self._kept_lock:
            keep = self._results.qsize() >= self._slots.size
            if keep:
                self._kept.add(id(item))
        if not keep:
            self._slots.give(1)
        self._results.put((item, outcome))

    def to_inbox(self, item: ActivityWorkItem, outcome: Outcome) -> None:
        """Deliver ``outcome`` through its instance's inbox, never by running the episode
        here: for poison work, whose next episode may be what kills this worker."""
        self._slots.give(1)
        self._complete([(item, outcome)])
        self._forget([item])

    # -- the loops ----------------------------------------------------------------
    def deliver_batches(self) -> None:
        """The result thread: deliver results in batches until :meth:`close`."""
        running = True
        while running:
            batch: list[Result] = []
            for result in self._drain(self._results.get()):
                if result is None:
                    running = False
                else:
                    batch.append(result)
            if batch:
                try:
                    with self._delivering:
                        self._deliver(batch)
                finally:
                    with self._kept_lock:
                        kept = [id(i) for i, _ in batch if id(i) in self._kept]
                        self._kept.difference_update(kept)
                    if kept:
                        self._slots.give(len(kept))

    def close(self) -> None:
        """Let the result thread finish what is queued, then return."""
        self._results.put(None)

    def renew_leases(self) -> None:
        """The lease thread: renew the leases of the activities in flight until stopped."""
        while not self._stopping.wait(self._lease_seconds / 3):
            try:
                self.renew_once()
            except Exception:
                log.exception("renewing activity leases failed")

    def renew_once(self) -> None:
        """Renew the leases of the activities in flight, once."""
        with self._in_flight_lock:
            items = [item for item, _ in self._in_flight.values()]
        if not items:
            return
        renewed = _elapsed()
        until = _now() + _dt.timedelta(seconds=self._lease_seconds)
        lost = set(self._backend.renew_activity_locks(items, until=until))
        sure = renewed + self._lease_seconds / 2
        with self._in_flight_lock:
            for item in items:
                entry = self._in_flight.get(item.message_id)
                if entry is not None and entry[0] is item:
                    fresh = sure if item.message_id not in lost else float("-inf")
                    self._in_flight[item.message_id] = (item, fresh)

    def _leased(self, batch: list[Result]) -> set[int]:
        """The message ids of the activities of ``batch`` whose lease is certainly still
        this worker's."""
        now = _elapsed()
        with self._in_flight_lock:
            entries = [self._in_flight.get(item.message_id) for item, _ in batch]
        return {
            entry[0].message_id
            for (item, _), entry in zip(batch, entries, strict=True)
            if entry is not None and entry[0] is item and now < entry[1]
        }

    # -- delivering ---------------------------------------------------------------
    def _drain(self, first: Result | None) -> list[Result | None]:
        items = [first]
        while True:
            try:
                items.append(self._results.get_nowait())
            except queue.Empty:
                return items

    def _deliver(self, batch: list[Result], *, alone: bool = False) -> None:
        remaining = batch
        if self._direct and not self._stopping.is_set():
            try:
                leased = self._leased(batch)
                remaining = self._orchestrations.run_with_results(
                    _now(), batch, alone=alone, leased=leased
                )
            except Exception:
                log.exception("running episodes for %d activity results failed", len(batch))
        if remaining:
            self._complete(remaining)
        self._forget(item for item, _ in batch)

    def _complete(self, batch: list[Result]) -> None:
        """Deliver results through the inboxes, retrying a few times while the store fails
        (after that the leases expire and the activities run again: at least once)."""
        lost: list[int] = []
        for attempt in range(5):
            try:
                lost = self._activities.complete(batch, _now())
                break
            except Exception:
                log.exception("delivering %d activity results failed (try %d)", len(batch), attempt)
                self._stopping.wait(min(2**attempt * 0.1, 2.0))
        for message_id in lost:
            log.warning("activity lease %d was lost; its result was dropped", message_id)

    def _forget(self, items: Iterable[ActivityWorkItem]) -> None:
        """No longer renew these activities' leases (delivered, or handed back)."""
        with self._in_flight_lock:
            for item in items:
                # The row may already carry the instance's next activity (a claim takes
                # over the row of the activity whose result its commit applied).
                entry = self._in_flight.get(item.message_id)
                if entry is not None and entry[0] is item:
                    del self._in_flight[item.message_id]
