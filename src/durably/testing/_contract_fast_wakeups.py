"""Fast-path contract checks on wake-ups (:meth:`FastPaths.wait_for_work`), with threads
and the real clock.

Waits in these checks are long (10 s) and the assertions short (a few seconds), so a
store that does not wake its waiters fails instead of passing slowly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from durably.backends.base import FastBackend, NewMessage, WorkKind
from durably.history import TimerFired
from durably.testing._contract_kit import (
    Status,
    StoreFactory,
    activity,
    commit,
    fast,
    lock,
    lock_one,
    message,
    own_fast_paths,
    registry,
    seconds,
    start,
    utcnow,
)

CHECKS, _check = registry()
WAKE_LIMIT = 3.0
"""Seconds a waiter may take to notice work; its wait_for_work timeout is 10 s."""
_LONG_LEASE = seconds(120)


def _poll(backend: FastBackend, kind: WorkKind, ready: Callable[[], bool]) -> float:
    """Poll, then wait, as a worker does, until ``ready()``; the seconds it took."""
    started = time.monotonic()
    while not ready():
        assert time.monotonic() - started < 2 * WAKE_LIMIT, f"no {kind} work showed up"
        backend.wait_for_work(kind, 10.0)
    return time.monotonic() - started


def _woken(
    backend: FastBackend, kind: WorkKind, ready: Callable[[], bool], trigger: Callable[[], None]
) -> float:
    """Seconds a waiting thread needed to see the work ``trigger`` creates."""
    outcome: dict[str, object] = {}

    def waiter() -> None:
        try:
            outcome["elapsed"] = _poll(backend, kind, ready)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    time.sleep(0.3)  # let the waiter block in wait_for_work
    trigger()
    thread.join(4 * WAKE_LIMIT)
    assert not thread.is_alive(), f"the {kind} waiter never woke"
    assert "error" not in outcome, outcome.get("error")
    elapsed = outcome["elapsed"]
    assert isinstance(elapsed, float)
    return elapsed


@_check
def check_wait_for_work_wakes_on_new_work(factory: StoreFactory) -> None:
    backend = fast(factory)
    now = utcnow()
    backend.create_instance(start("orchestration", created=now))
    backend.commit_orchestrations([commit(lock_one(backend, "orchestration", now=now))])

    def new_message() -> None:
        backend.send_message(message("orchestration", visible_at=utcnow()))

    def locked() -> bool:
        return bool(lock(backend, now=utcnow()))

    assert _woken(backend, "orchestration", locked, new_message) < WAKE_LIMIT
    backend.create_instance(start("activity", created=utcnow()))
    item = lock_one(backend, "activity", now=utcnow())

    def new_activity() -> None:
        task = activity(item, 0, visible_at=utcnow())
        backend.commit_orchestrations([commit(item, activities=[task])])

    def activity_locked() -> bool:
        return bool(
            backend.lock_next_activities(owner="w", now=utcnow(), lease=_LONG_LEASE, limit=1)
        )

    assert _woken(backend, "activity", activity_locked, new_activity) < WAKE_LIMIT
    backend.create_instance(start("status", created=utcnow()))
    item = lock_one(backend, "status", now=utcnow())

    def completed() -> bool:
        record = backend.get_instance("status")
        return record is not None and record.runtime_status.is_terminal

    def complete() -> None:
        backend.commit_orchestrations([commit(item, status=Status.Completed)])

    assert _woken(backend, "status", completed, complete) < WAKE_LIMIT


@_check
def check_wait_for_work_wakes_when_delayed_work_comes_due(factory: StoreFactory) -> None:
    backend = fast(factory)
    now = utcnow()
    backend.create_instance(start("t", created=now))
    item = lock_one(backend, "t", now=now)
    backend.commit_orchestrations([commit(item, activities=[activity(item, 0, visible_at=now)])])
    fire_at = utcnow() + seconds(0.5)
    timer = TimerFired(timestamp=now, timer_id=1, fire_at=fire_at)
    backend.send_message(NewMessage(instance_id="t", event=timer, visible_at=fire_at))
    elapsed = _poll(backend, "orchestration", lambda: bool(lock(backend, now=utcnow())))
    assert elapsed < WAKE_LIMIT
    [work] = backend.lock_next_activities(owner="w", now=utcnow(), lease=_LONG_LEASE, limit=1)
    backend.abandon_activity(work, visible_at=utcnow() + seconds(0.5))

    def activity_locked() -> bool:
        return bool(
            backend.lock_next_activities(owner="w", now=utcnow(), lease=_LONG_LEASE, limit=1)
        )

    assert _poll(backend, "activity", activity_locked) < WAKE_LIMIT


@_check
@own_fast_paths  # derived wake-ups come from this process's writes through the wrapper
def check_wait_for_work_sees_other_backend_objects(factory: StoreFactory) -> None:
    writer, waiter = fast(factory), fast(factory)
    now = utcnow()
    writer.create_instance(start("x", created=now))
    writer.commit_orchestrations([commit(lock_one(writer, "x", now=now))])

    def new_message() -> None:
        writer.send_message(message("x", visible_at=utcnow()))

    def locked() -> bool:
        return bool(lock(waiter, now=utcnow()))

    assert _woken(waiter, "orchestration", locked, new_message) < WAKE_LIMIT
