"""Worker: runs an app's orchestrations and activities on threads in this process.

Threads: one runs orchestration episodes in batches (episodes are short and CPU-bound,
so one thread with group commits beats many), one fetches activity work into a thread
pool (``async def`` activities go to an event loop thread), one delivers activity results
in batches, and one renews the leases of running activities. Idle threads sleep on the
store's wake-ups, with a short poll as the fallback for other processes' work.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import queue
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

from durably.app import App
from durably.backends.base import ActivityWorkItem, Backend, InstanceQuery, NewInstance
from durably.client import Client, connect
from durably.history import OrchestrationRuntimeStatus, TaskCompleted, TaskFailed
from durably.worker.activities import ActivityDispatcher
from durably.worker.orchestrations import ActivityHandOff, OrchestrationDispatcher

log = logging.getLogger("durably.worker")

_Done = tuple[ActivityWorkItem, TaskCompleted | TaskFailed]
_FINISHED = frozenset(s for s in OrchestrationRuntimeStatus if s.is_terminal)
_MAX_BACKOFF = 5.0
"""Seconds a loop waits at most between retries while the store keeps failing."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class _Slots:
    """Free places in the activity pool: a counter under a condition."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._changed = threading.Condition()

    def take_all(self, timeout: float) -> int:
        """Take every free slot, waiting up to ``timeout`` seconds for one; how many."""
        with self._changed:
            if not self._free and not self._changed.wait_for(lambda: self._free, timeout):
                return 0
            taken, self._free = self._free, 0
            return taken

    def take_now(self, wanted: int) -> int:
        with self._changed:
            taken = min(wanted, self._free)
            self._free -= taken
            return taken

    def give(self, count: int) -> None:
        with self._changed:
            self._free += count
            self._changed.notify()


class _Pool:
    """Threads that run sync activities, started as needed up to ``size``.

    A queue and plain threads instead of a ``ThreadPoolExecutor``: no future, condition
    and callback per activity, which showed in profiles of short activities. ``done``
    gets each item with its result, on the thread that ran it. An item submitted from
    inside ``done`` (the next activity of an instance whose result that thread has just
    delivered) is run next by the same thread, with no queue and no wake-up.
    """

    def __init__(
        self,
        size: int,
        execute: Callable[[ActivityWorkItem], TaskCompleted | TaskFailed],
        done: Callable[[ActivityWorkItem, TaskCompleted | TaskFailed | None], None],
    ) -> None:
        self._size = size
        self._execute = execute
        self._done = done
        self._queue: queue.SimpleQueue[ActivityWorkItem | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._local = threading.local()  # on pool threads: .next, the item to run next

    def submit(self, item: ActivityWorkItem) -> None:
        """Run ``item`` on a pool thread; ``RuntimeError`` once the pool is shut down."""
        if self._closed:
            raise RuntimeError("the activity pool is shut down")
        local = self._local
        if getattr(local, "next", True) is None:  # a pool thread, in done: keep it
            local.next = item
            return
        self._queue.put(item)
        if not self._idle.acquire(timeout=0) and len(self._threads) < self._size:
            name = f"durably-activity_{len(self._threads)}"
            thread = threading.Thread(target=self._work, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def shutdown(self) -> list[ActivityWorkItem]:
        """Let running activities finish; the queued ones that never started."""
        self._closed = True
        pending = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                pending.append(item)
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        return pending

    def _work(self) -> None:
        local = self._local
        local.next = None
        item = self._queue.get()
        while item is not None:
            try:
                result: TaskCompleted | TaskFailed | None = self._execute(item)
            except BaseException:  # execute turns Exceptions into TaskFailed
                log.exception("activity %s (%d) did not finish", item.name, item.message_id)
                result = None
            self._done(item, result)
            item, local.next = local.next, None
            if item is None:
                self._idle.release()
                item = self._queue.get()


class Worker:
    """Processes work for ``app`` from ``store`` until stopped. Use it as a context manager.

    ``activity_concurrency`` bounds the activities running at once (threads start as
    needed); ``cache_size`` bounds
    the live orchestrations kept in memory between episodes (0 turns the cache off) and
    ``cache_idle_seconds`` how long one stays there unused;
    ``poll_interval`` is how often an idle worker looks for work made by other processes.
    ``retention_days`` (off by default) makes the worker purge, every
    ``retention_check_interval`` seconds, the finished instances (Completed, Failed,
    Terminated) created more than that many days ago. With ``direct_episodes`` (on by
    default) a finished activity's result is applied by running its instance's episode
    right away, in the commit that retires the activity, instead of through the inbox.
    """

    def __init__(
        self,
        app: App,
        store: str | Backend | None = None,
        *,
        activity_concurrency: int = 128,
        orchestration_batch_size: int = 64,
        cache_size: int = 4096,
        cache_idle_seconds: float = 300.0,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.25,
        retention_days: float | None = None,
        retention_check_interval: float = 3600.0,
        direct_episodes: bool = True,
    ) -> None:
        if retention_days is not None and retention_days < 0:
            raise ValueError(f"retention_days must not be negative, got {retention_days}")
        self.app = app
        self._owns_backend = not isinstance(store, Backend)
        self.backend = connect(store, app)
        self.worker_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = _dt.timedelta(seconds=lease_seconds)
        self._slots = _Slots(activity_concurrency)
        self.orchestrations = OrchestrationDispatcher(
            app,
            self.backend,
            owner=self.worker_id,
            lease=lease,
            batch_size=orchestration_batch_size,
            cache_size=cache_size,
            cache_idle=_dt.timedelta(seconds=cache_idle_seconds),
            hand_off=ActivityHandOff(slots=self._slots, lease=lease, run=self._run_claimed),
        )
        self.activities = ActivityDispatcher(app, self.backend, owner=self.worker_id, lease=lease)
        self._concurrency = activity_concurrency
        self._batch_size = orchestration_batch_size
        self._poll = poll_interval
        self._lease_seconds = lease_seconds
        self._retention = None if retention_days is None else _dt.timedelta(days=retention_days)
        self._retention_interval = retention_check_interval
        self._direct_episodes = direct_episodes
        self._stopping = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._pool: _Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._results: queue.SimpleQueue[_Done | None] = queue.SimpleQueue()
        self._in_flight: dict[int, ActivityWorkItem] = {}
        self._in_flight_lock = threading.Lock()
        self._delivering = threading.Lock()  # one delivery of results at a time

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> Worker:
        """Start the worker's threads (idempotent)."""
        if self._threads:
            return self
        self._stopping.clear()
        self._pool = _Pool(self._concurrency, self.activities.execute, self._ran)
        targets = {
            "orchestrations": self._orchestration_loop,
            "activities": self._activity_loop,
            "results": self._result_loop,
            "leases": self._lease_loop,
        }
        if self._retention is not None:
            targets["retention"] = self._retention_loop
        for name, target in targets.items():
            thread = threading.Thread(target=target, name=f"durably-{name}", daemon=True)
            thread.start()
            self._threads[name] = thread
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching work, let running activities finish (up to ``timeout`` s), deliver
        their results, and release the store. Unfinished work is left to be retried."""
        if not self._threads:
            return
        self._stopping.set()
        self.backend.interrupt()
        self._threads["activities"].join(timeout)
        if self._pool is not None:
            for item in self._pool.shutdown():  # never started: hand them back at once
                self._finished(item, None)
        self._results.put(None)
        for thread in self._threads.values():
            thread.join(timeout)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._threads.clear()
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Client:
        """A client on the same store, which knows this worker's app.

        With ``direct_episodes``, while this worker runs and no activity is running,
        its ``start_new`` runs the new instance's first episode at once, in the commit
        that creates the instance.
        """
        client = Client(self.backend, app=self.app)
        client._working_on = self._working_on
        if self._direct_episodes:
            client._starter = self._start
        return client

    def _working_on(self, instance_id: str) -> bool:
        # A scan of the activities in flight (at most a few hundred): the one record of
        # them, rather than a count kept beside it (a claim may take over an entry).
        with self._in_flight_lock:
            return any(item.instance_id == instance_id for item in self._in_flight.values())

    def _start(self, new: NewInstance, fresh_id: bool) -> None:
        # Only while no activity runs: an idle worker saves the start a commit and a
        # hand-off (latency); a busy one runs first episodes in its own batches, which
        # costs fewer commits than one per start (throughput).
        if self._threads and not self._stopping.is_set() and not self._in_flight:
            self.orchestrations.start(new, fresh_id=fresh_id)
        else:
            self.backend.create_instance(new)

    def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then stop gracefully."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received signal %d, stopping", signum)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not stop.wait(1.0):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- loops ------------------------------------------------------------------------
    def _orchestration_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                # A batch smaller than the limit took all there was: wait for news
                # (what arrived meanwhile has already set the wake-up).
                if self.orchestrations.run_once(_now()) < self._batch_size:
                    self.backend.wait_for_work("orchestration", self._poll)
                failures = 0
            except Exception:
                failures += 1
                self._back_off("orchestration dispatcher failed", failures)

    def _back_off(self, what: str, failures: int) -> None:
        """Log a failed iteration and wait before the next: the store may be away for a
        while (a restart), so waits double up to _MAX_BACKOFF and only the first failure
        in a row logs a traceback."""
        delay = min(self._poll * 2 ** (failures - 1), _MAX_BACKOFF)
        if failures == 1:
            log.exception("%s; retrying", what)
        else:
            log.warning("%s again (%d in a row); retrying in %.1f s", what, failures, delay)
        self._stopping.wait(delay)

    def _activity_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            free = self._slots.take_all(self._poll)
            try:
                items = self.activities.fetch(_now(), free) if free else []
                failures = 0
            except Exception:
                items = []
                failures += 1
                self._back_off("fetching activity work failed", failures)
            if free > len(items):
                self._slots.give(free - len(items))
            for item in items:
                self._run_activity(item)
            if not items and free:
                self.backend.wait_for_work("activity", self._poll)

    def _run_claimed(self, items: Sequence[ActivityWorkItem]) -> None:
        # Activities our own commits enqueued locked for us (their slots are taken).
        for item in items:
            try:
                self._run_activity(item)
            except RuntimeError:  # the pool is shut down: we are stopping
                self._finished(item, None)

    def _run_activity(self, item: ActivityWorkItem) -> None:
        with self._in_flight_lock:
            self._in_flight[item.message_id] = item
        if self.activities.is_async(item):
            loop = self._event_loop()
            import asyncio  # only apps with async activities pay for importing it

            future = asyncio.run_coroutine_threadsafe(self.activities.execute_async(item), loop)
            future.add_done_callback(lambda f: self._finished(item, _outcome(f)))
        else:
            assert self._pool is not None
            self._pool.submit(item)

    def _ran(self, item: ActivityWorkItem, result: TaskCompleted | TaskFailed | None) -> None:
        """A pool thread ran an activity. With nothing else to deliver, it delivers the
        result itself: the episode runs now, without waking the result thread, and the
        next activity it claims runs on this same thread (a sequence of steps then
        needs no hand-off at all). Otherwise the result joins the result thread's batch."""
        if (
            result is not None
            and self._direct_episodes
            and self._results.empty()
            and self._delivering.acquire(blocking=False)
        ):
            try:
                self._slots.give(1)
                alone = len(self._in_flight) == 1 and self._results.empty()
                self._deliver([(item, result)], alone=alone)
            finally:
                self._delivering.release()
            return
        self._finished(item, result)

    def _finished(self, item: ActivityWorkItem, result: TaskCompleted | TaskFailed | None) -> None:
        """An activity ran (``result``) or never will here (None): deliver or hand back."""
        self._slots.give(1)
        if result is None:
            self._forget([item])
            try:
                self.backend.abandon_activity(item, visible_at=_now())
            except Exception:
                log.exception("could not hand back activity %d", item.message_id)
            return
        self._results.put((item, result))

    def _result_loop(self) -> None:
        running = True
        while running:
            first = self._results.get()
            batch: list[_Done] = []
            for done in self._drain(first):
                if done is None:
                    running = False
                else:
                    batch.append(done)
            if batch:
                with self._delivering:
                    self._deliver(batch)

    def _drain(self, first: _Done | None) -> list[_Done | None]:
        items = [first]
        while True:
            try:
                items.append(self._results.get_nowait())
            except queue.Empty:
                return items

    def _deliver(self, batch: list[_Done], *, alone: bool = False) -> None:
        remaining = batch
        if self._direct_episodes and not self._stopping.is_set():
            try:
                remaining = self.orchestrations.run_with_results(_now(), batch, alone=alone)
            except Exception:
                log.exception("running episodes for %d activity results failed", len(batch))
        if remaining:
            self._complete(remaining)
        self._forget(item for item, _ in batch)

    def _complete(self, batch: list[_Done]) -> None:
        for attempt in range(5):
            try:
                lost = self.activities.complete(batch, _now())
                break
            except Exception:
                log.exception("delivering %d activity results failed (try %d)", len(batch), attempt)
                self._stopping.wait(min(2**attempt * 0.1, 2.0))
        else:
            lost = []  # the leases expire and the activities run again: at least once
        for message_id in lost:
            log.warning("activity lease %d was lost; its result was dropped", message_id)

    def _forget(self, items: Iterable[ActivityWorkItem]) -> None:
        """No longer renew these activities' leases (delivered, or handed back)."""
        with self._in_flight_lock:
            for item in items:
                # The row may already carry the instance's next activity (a claim takes
                # over the row of the activity whose result its commit applied).
                if self._in_flight.get(item.message_id) is item:
                    del self._in_flight[item.message_id]

    def _lease_loop(self) -> None:
        interval = self._lease_seconds / 3
        while not self._stopping.wait(interval):
            with self._in_flight_lock:
                items = list(self._in_flight.values())
            if not items:
                continue
            until = _now() + _dt.timedelta(seconds=self._lease_seconds)
            try:
                self.backend.renew_activity_locks(items, until=until)
            except Exception:
                log.exception("renewing activity leases failed")

    def purge_expired(self, now: _dt.datetime | None = None) -> int:
        """Purge the finished instances older than the retention; how many were deleted.

        Does nothing (returns 0) without ``retention_days``.
        """
        if self._retention is None:
            return 0
        query = InstanceQuery(
            runtime_status=_FINISHED, created_time_to=(now or _now()) - self._retention
        )
        return self.backend.purge_instances(query)

    def _retention_loop(self) -> None:
        while True:
            try:
                deleted = self.purge_expired()
                if deleted:
                    log.info("retention: purged %d finished instances", deleted)
            except Exception:
                log.exception("retention purge failed; retrying later")
            if self._stopping.wait(self._retention_interval):
                return

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            import asyncio

            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="durably-async", daemon=True)
            thread.start()
            self._loop = loop
        return self._loop


def _outcome(future: concurrent.futures.Future[TaskCompleted | TaskFailed]) -> Any:
    """An async activity's result; None if it was cancelled or raised past execute_async."""
    if future.cancelled():
        return None
    error = future.exception()
    if error is not None:
        log.error("an async activity did not finish", exc_info=error)
        return None
    return future.result()
