"""Which activity results a worker applies without asking the store to check their lease:
only those whose lease it took or renewed less than half a lease ago by its own steady
clock. Any other result (a lease taken long ago, a renewal the store refused, a work
item that no longer is the one in flight) has its lease checked in the episode's
transaction."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from durably.backends.base import ActivityWorkItem
from durably.history import TaskCompleted
from durably.worker.delivery import ResultDelivery
from durably.worker.pool import Slots

LEASE = 60.0


def _in(seconds: float) -> dt.datetime:
    """A lease expiry ``seconds`` from now."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


def _item(message_id: int, token: str = "t") -> ActivityWorkItem:
    return ActivityWorkItem(
        message_id=message_id,
        instance_id=f"i{message_id}",
        execution_id="e",
        task_id=1,
        name="a",
        lock_token=token,
    )


class _Orchestrations:
    def __init__(self) -> None:
        self.leased: list[set[int]] = []

    def run_with_results(self, now: Any, batch: Any, *, alone: bool, leased: Any) -> list[Any]:
        self.leased.append(set(leased))
        return []


class _Store:
    def __init__(self, lost: list[int]) -> None:
        self.lost = lost

    def renew_activity_locks(self, items: Any, *, until: Any) -> list[int]:
        return self.lost


def _delivery(store: Any = None) -> tuple[ResultDelivery, _Orchestrations]:
    orchestrations = _Orchestrations()
    delivery = ResultDelivery(
        store,
        orchestrations,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        slots=Slots(8),
        direct_episodes=True,
        stopping=threading.Event(),
        lease_seconds=LEASE,
    )
    return delivery, orchestrations


def _done() -> TaskCompleted:
    return TaskCompleted(timestamp=_in(0), task_scheduled_id=1, result="1")


def test_a_fresh_lease_is_vouched_for_and_an_old_one_is_checked() -> None:
    delivery, orchestrations = _delivery()
    fresh, old, untracked = _item(1), _item(2), _item(3)
    delivery.track(fresh, _in(LEASE))
    # Taken 40 s ago: 20 s are left, less than the half-lease margin.
    delivery.track(old, _in(20))
    delivery._deliver([(fresh, _done()), (old, _done()), (untracked, _done())])
    assert orchestrations.leased == [{1}]


def test_a_result_whose_row_now_carries_another_work_item_is_checked() -> None:
    delivery, orchestrations = _delivery()
    earlier, claimed = _item(1, "first"), _item(1, "second")  # a claim took over the row
    delivery.track(claimed, _in(LEASE))
    delivery._deliver([(earlier, _done())])
    assert orchestrations.leased == [set()]


def test_a_renewal_the_store_refused_withdraws_the_vouching() -> None:
    store = _Store(lost=[2])
    delivery, orchestrations = _delivery(store)
    kept, lost = _item(1), _item(2)
    for item in (kept, lost):
        delivery.track(item, _in(LEASE))
    delivery.renew_once()
    delivery._deliver([(kept, _done()), (lost, _done())])
    assert orchestrations.leased == [{1}]
