"""Where activities run: a thread pool for plain functions, an event loop for ``async def``.

:class:`Slots` counts the free places of a worker's pool; whoever hands the pool work
takes a slot first (the activity loop, or a commit that claims the activities it
schedules) and the slot comes back when the activity's result is handed on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

from durably.backends.base import ActivityWorkItem
from durably.history import TaskCompleted, TaskFailed

log = logging.getLogger("durably.worker")

Outcome = TaskCompleted | TaskFailed
Done = Callable[[ActivityWorkItem, Outcome | None], None]
"""Told the outcome of a work item (None: it did not finish, or never ran)."""


class Slots:
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
        """Take up to ``wanted`` free slots without waiting; how many were taken."""
        with self._changed:
            taken = min(wanted, self._free)
            self._free -= taken
            return taken

    def give(self, count: int) -> None:
        """Return ``count`` slots."""
        with self._changed:
            self._free += count
            self._changed.notify()


class ThreadPool:
    """Threads that run sync activities, started as needed up to ``size``.

    A queue and plain threads instead of a ``ThreadPoolExecutor``: no future, condition
    and callback per activity. ``done`` gets each item with its outcome, on the thread
    that ran it. An item submitted from inside ``done`` (the next activity of an instance
    whose result that thread has just delivered) is run next by the same thread, with no
    queue and no wake-up.
    """

    def __init__(
        self, size: int, execute: Callable[[ActivityWorkItem], Outcome], done: Done
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

    def shutdown(self, timeout: float) -> list[ActivityWorkItem]:
        """Let running activities finish, waiting up to ``timeout`` seconds in all; the
        queued ones that never started. An activity still running after that is left
        to its thread (a daemon): its lease runs out and another worker runs it again."""
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
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
            if thread.is_alive():
                log.warning("activity thread %s still busy after %.0f s", thread.name, timeout)
        return pending

    def _work(self) -> None:
        local = self._local
        local.next = None
        item = self._queue.get()
        while item is not None:
            try:
                outcome: Outcome | None = self._execute(item)
            except BaseException:  # execute turns Exceptions into TaskFailed
                log.exception("activity %s (%d) did not finish", item.name, item.message_id)
                outcome = None
            self._done(item, outcome)
            item, local.next = local.next, None
            if item is None:
                self._idle.release()
                item = self._queue.get()


class EventLoopThread:
    """An event loop on a thread of its own for ``async def`` activities, started on
    first use (only apps with async activities pay for importing asyncio)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def submit(self, item: ActivityWorkItem, run: Coroutine[Any, Any, Outcome], done: Done) -> None:
        """Run the coroutine ``run`` of ``item`` on the loop; ``done`` gets its outcome."""
        import asyncio

        future = asyncio.run_coroutine_threadsafe(run, self._running())

        def finished(_: object) -> None:
            if future.cancelled():
                done(item, None)
                return
            error = future.exception()
            if error is not None:
                log.error("an async activity did not finish", exc_info=error)
                done(item, None)
                return
            done(item, future.result())

        future.add_done_callback(finished)

    def stop(self, timeout: float) -> None:
        """Stop the loop (if it was started) and close it once its thread ended (waiting
        up to ``timeout`` seconds); the next submit starts another."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    def _running(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            import asyncio

            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="durably-async", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop
