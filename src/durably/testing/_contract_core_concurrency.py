"""Core contract checks with threads and the real clock: competing workers never share
an instance or an activity request."""

from __future__ import annotations

import json
import threading
import time

from durably.backends.base import ActivityResult, Backend
from durably.history import GenericEvent, TaskCompleted
from durably.testing._contract_kit import (
    T0,
    StoreFactory,
    activity,
    commit,
    lock_one,
    message,
    note,
    registry,
    seconds,
    start,
    utcnow,
)

CHECKS, _check = registry()
_LONG_LEASE = seconds(120)
_IDLE = 0.005
"""Seconds a competing worker sleeps when it found no work (the core has no wake-ups)."""


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
            time.sleep(_IDLE)
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
                time.sleep(_IDLE)
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
