"""Contract checks with threads and the real clock: wake-ups and competing workers.

Waits in these checks are long (10 s) and the assertions short (a few seconds), so a
backend that does not wake its waiters fails instead of passing slowly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from durably.backends.base import ActivityResult, Backend, NewMessage, WorkKind
from durably.history import GenericEvent, TaskCompleted, TimerFired
from durably.testing._contract_kit import (
    T0,
    Status,
    StoreFactory,
    activity,
    commit,
    lock,
    lock_one,
    message,
    note,
    registry,
    seconds,
    start,
    utcnow,
)

CHECKS, _check = registry()
WAKE_LIMIT = 3.0
"""Seconds a waiter may take to notice work; its wait_for_work timeout is 10 s."""
_LONG_LEASE = seconds(120)


def _poll(backend: Backend, kind: WorkKind, ready: Callable[[], bool]) -> float:
    """Poll, then wait, as a worker does, until ``ready()``; the seconds it took."""
    started = time.monotonic()
    while not ready():
        assert time.monotonic() - started < 2 * WAKE_LIMIT, f"no {kind} work showed up"
        backend.wait_for_work(kind, 10.0)
    return time.monotonic() - started


def _woken(
    backend: Backend, kind: WorkKind, ready: Callable[[], bool], trigger: Callable[[], None]
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
    backend = factory()
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
    backend = factory()
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
def check_wait_for_work_sees_other_backend_objects(factory: StoreFactory) -> None:
    writer, waiter = factory(), factory()
    now = utcnow()
    writer.create_instance(start("x", created=now))
    writer.commit_orchestrations([commit(lock_one(writer, "x", now=now))])

    def new_message() -> None:
        writer.send_message(message("x", visible_at=utcnow()))

    def locked() -> bool:
        return bool(lock(waiter, now=utcnow()))

    assert _woken(waiter, "orchestration", locked, new_message) < WAKE_LIMIT


class _Ledger:
    """What competing workers did, checked for double processing afterwards."""

    def __init__(self, expected: int) -> None:
        self.guard = threading.Lock()
        self.active: set[str] = set()
        self.consumed: list[int] = []
        self.errors: list[str] = []
        self.expected = expected
        self.done = threading.Event()

    def enter(self, instance_ids: list[str]) -> None:
        with self.guard:
            clash = self.active.intersection(instance_ids)
            if clash:
                self.errors.append(f"locked twice at once: {sorted(clash)}")
            self.active.update(instance_ids)

    def leave(self, instance_ids: list[str]) -> None:
        with self.guard:
            self.active.difference_update(instance_ids)

    def record(self, message_ids: list[int], lost: list[str]) -> None:
        with self.guard:
            if lost:
                self.errors.append(f"commits lost without any lease expiring: {lost}")
            self.consumed += message_ids
            if len(self.consumed) >= self.expected:
                self.done.set()


def _work(backend: Backend, owner: str, ledger: _Ledger, deadline: float) -> None:
    while not ledger.done.is_set() and time.monotonic() < deadline:
        items = backend.lock_next_orchestrations(
            owner=owner, now=utcnow(), lease=_LONG_LEASE, limit=2
        )
        if not items:
            backend.wait_for_work("orchestration", 0.05)
            continue
        ids = [item.instance.instance_id for item in items]
        ledger.enter(ids)
        time.sleep(0.001)  # widen the window in which a second locker would show up
        ledger.leave(ids)
        consumed = [[m.message_id for m in item.messages] for item in items]
        commits = [
            commit(i, events=[note(json.dumps(c))]) for i, c in zip(items, consumed, strict=True)
        ]
        lost = backend.commit_orchestrations(commits)
        ledger.record([mid for c in consumed for mid in c], lost)


def _hammer(backends: list[Backend], *, instances: int = 8, per_instance: int = 6) -> None:
    first = backends[0]
    names = [f"h{n}" for n in range(instances)]
    for name in names:
        first.create_instance(start(name))
    ledger = _Ledger(expected=instances * per_instance)
    deadline = time.monotonic() + 60
    workers = [
        threading.Thread(
            target=_work, args=(backends[n % len(backends)], f"w{n}", ledger, deadline)
        )
        for n in range(6)
    ]
    for thread in workers:
        thread.start()
    for round_ in range(per_instance - 1):  # the rest arrive while the workers run
        for name in names:
            backends[round_ % len(backends)].send_message(message(name, visible_at=T0))
    for thread in workers:
        thread.join(90)
    assert ledger.done.is_set(), f"consumed {len(ledger.consumed)} of {ledger.expected}"
    assert ledger.errors == []
    assert sorted(ledger.consumed) == sorted(set(ledger.consumed))
    recorded: list[int] = []
    for name in names:
        history = first.get_history(name)
        record = first.get_instance(name)
        assert record is not None and record.history_length == len(history)
        recorded += [
            mid
            for e in history
            if isinstance(e, GenericEvent)
            for mid in json.loads(e.data or "[]")
        ]
    assert sorted(recorded) == sorted(ledger.consumed)


@_check
def check_competing_threads_never_share_an_instance(factory: StoreFactory) -> None:
    _hammer([factory()])


@_check
def check_competing_backend_objects_never_share_an_instance(factory: StoreFactory) -> None:
    _hammer([factory(), factory()])


@_check
def check_competing_activity_workers_complete_each_request_once(factory: StoreFactory) -> None:
    backends = [factory(), factory()]
    backend = backends[0]
    backend.create_instance(start("acts"))
    item = lock_one(backend, "acts")
    tasks = [activity(item, n) for n in range(40)]
    backend.commit_orchestrations([commit(item, activities=tasks)])
    done: list[int] = []
    errors: list[str] = []
    guard = threading.Lock()
    deadline = time.monotonic() + 60

    def work(source: Backend, owner: str) -> None:
        while len(done) < len(tasks) and time.monotonic() < deadline:
            items = source.lock_next_activities(
                owner=owner, now=utcnow(), lease=_LONG_LEASE, limit=3
            )
            if not items:
                source.wait_for_work("activity", 0.05)
                continue
            results = [
                ActivityResult(
                    work_item=w,
                    event=TaskCompleted(timestamp=T0, task_scheduled_id=w.task_id),
                    visible_at=T0,
                )
                for w in items
            ]
            lost = source.complete_activities(results)
            with guard:
                errors.extend(f"lost {m}" for m in lost)
                done.extend(w.task_id for w in items)

    threads = [threading.Thread(target=work, args=(backends[n % 2], f"a{n}")) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert errors == []
    assert sorted(done) == list(range(40))
    delivered = lock_one(backend, "acts")
    task_ids = [getattr(m.event, "task_scheduled_id", None) for m in delivered.messages]
    assert sorted(t for t in task_ids if t is not None) == list(range(40))
