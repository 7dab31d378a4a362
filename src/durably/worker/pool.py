"""Where activities run: a thread pool for plain functions, an event loop for ``async def``.

:class:`Slots` counts the free places of a worker's pool; whoever hands the pool work
takes a slot first (the activity loop, or a commit that claims the activities it
schedules) and the slot comes back when the activity's result is handed on.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

from durably import logs
from durably.backends.base import ActivityWorkItem
from durably.history import TaskCompleted, TaskFailed

log = logging.getLogger("durably.worker")

Outcome = TaskCompleted | TaskFailed
Done = Callable[[ActivityWorkItem, Outcome | None], None]
"""Told the outcome of a work item (None: it did not finish, or never ran)."""


class Slots:
    """Free places in the activity pool: a counter under a condition."""

    def __init__(self, size: int) -> None:
        self.size = size
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


class Activities(Protocol):
    """What the pool needs of the activity dispatcher."""

    def execute(self, item: ActivityWorkItem) -> Outcome: ...

    def give_up_after(self, item: ActivityWorkItem) -> float | None: ...

    def timed_out(self, item: ActivityWorkItem) -> Outcome: ...


class _Run:
    """One activity on a pool thread: its outcome is handed on once, by whichever of the
    thread (it finished) and the watchdog (its deadline passed) comes first."""

    __slots__ = ("deadline", "item", "settled", "thread")

    def __init__(self, item: ActivityWorkItem, deadline: float) -> None:
        self.item = item
        self.deadline = deadline
        self.settled = False
        self.thread = threading.current_thread()


class ThreadPool:
    """Threads that run sync activities, started as needed up to ``size``.

    A queue and plain threads instead of a ``ThreadPoolExecutor``: no future, condition
    and callback per activity. ``done`` gets each item with its outcome, on the thread
    that ran it. An item submitted from inside ``done`` (the next activity of an instance
    whose result that thread has just delivered) is run next by the same thread, with no
    queue and no wake-up.

    An activity with a timeout that runs past it is given up: ``done`` gets its
    ``timed_out`` failure from the watchdog thread, and its thread leaves the pool when
    the function returns (its result is discarded); a new thread takes its place.
    """

    def __init__(self, size: int, activities: Activities, done: Done) -> None:
        self._size = size
        self._activities = activities
        self._done = done
        self._queue: queue.SimpleQueue[ActivityWorkItem | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._live = 0  # threads that take work: the ones started, less those given up
        self._names = itertools.count()
        self._closed = False
        self._local = threading.local()  # on pool threads: .next, the item to run next
        self._runs: dict[int, _Run] = {}  # the timed activities running, by thread id
        self._watch = threading.Condition()
        self._watchdog: threading.Thread | None = None

    def submit(self, item: ActivityWorkItem) -> None:
        """Run ``item`` on a pool thread; ``RuntimeError`` once the pool is shut down."""
        if self._closed:
            raise RuntimeError("the activity pool is shut down")
        local = self._local
        if getattr(local, "next", True) is None:  # a pool thread, in done: keep it
            local.next = item
            return
        with self._watch:  # shutdown closes under it: an item put is one it finds
            if self._closed:
                raise RuntimeError("the activity pool is shut down")
            self._queue.put(item)
        if not self._idle.acquire(timeout=0):
            # Started and registered under the lock that shutdown takes to list the
            # threads it stops: a thread it does not list does not exist yet.
            with self._watch:
                if self._live < self._size and not self._closed:
                    self._live += 1
                    name = f"durably-activity_{next(self._names)}"
                    thread = threading.Thread(target=self._work, name=name, daemon=True)
                    thread.start()
                    self._threads.append(thread)

    def shutdown(self, timeout: float) -> list[ActivityWorkItem]:
        """Let running activities finish, waiting up to ``timeout`` seconds in all; the
        queued ones that never started. An activity still running after that is left
        to its thread (a daemon): its lease runs out and another worker runs it again."""
        with self._watch:
            self._closed = True
        pending = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                pending.append(item)
        with self._watch:
            threads = list(self._threads)  # not those given up: nobody waits for them
            self._watch.notify()  # the watchdog ends too
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))
            if thread.is_alive():
                log.warning("activity thread %s still busy after %.0f s", thread.name, timeout)
        return pending

    def _work(self) -> None:
        local = self._local
        local.next = None
        item = self._queue.get()
        while item is not None:
            given_up, outcome = self._run(item)
            if given_up:
                return  # the watchdog handed the failure on and replaced this thread
            self._done(item, outcome)
            item, local.next = local.next, None
            if item is None:
                self._idle.release()
                item = self._queue.get()

    def _run(self, item: ActivityWorkItem) -> tuple[bool, Outcome | None]:
        """Run ``item``: whether it was given up meanwhile, and its outcome."""
        timeout = self._activities.give_up_after(item)
        run = None if timeout is None else self._watched(item, timeout)
        try:
            outcome: Outcome | None = self._activities.execute(item)
        except BaseException:  # execute turns what the activity raises into TaskFailed
            log.exception(
                "activity %s (%d) did not finish",
                item.name,
                item.message_id,
                extra=logs.fields(item.instance_id, item.execution_id, item.name),
            )
            outcome = None
        if run is not None:
            with self._watch:
                self._runs.pop(threading.get_ident(), None)
                if run.settled:
                    return True, None
                run.settled = True
        return False, outcome

    def _watched(self, item: ActivityWorkItem, timeout: float) -> _Run:
        run = _Run(item, time.monotonic() + timeout)
        with self._watch:
            self._runs[threading.get_ident()] = run
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch_deadlines, name="durably-deadlines", daemon=True
                )
                self._watchdog.start()
            self._watch.notify()
        return run

    def _watch_deadlines(self) -> None:
        while not self._closed:
            with self._watch:
                now = time.monotonic()
                late = [run for run in self._runs.values() if run.deadline <= now]
                for run in late:
                    run.settled = True
                    self._live -= 1  # a new thread may start in its place
                    self._threads.remove(run.thread)
                self._runs = {k: r for k, r in self._runs.items() if not r.settled}
                if not late:
                    soonest = min((r.deadline for r in self._runs.values()), default=now + 60)
                    self._watch.wait(soonest - now)
            for run in late:
                self._done(run.item, self._activities.timed_out(run.item))


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
