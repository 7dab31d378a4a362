"""A result that waits for the result thread with the queue full keeps its activity slot
until it is delivered, and gives back exactly that slot: never one too few (the worker
would fetch less and less) or one too many."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from durably.backends.base import ActivityWorkItem
from durably.history import TaskCompleted
from durably.worker.delivery import ResultDelivery
from durably.worker.pool import Slots

T0 = dt.datetime.now(dt.UTC)
LATER = T0 + dt.timedelta(minutes=1)


def _item(message_id: int, task_id: int = 1) -> ActivityWorkItem:
    return ActivityWorkItem(
        message_id=message_id,
        instance_id=f"i{message_id}",
        execution_id="e",
        task_id=task_id,
        name="a",
        lock_token=f"t{task_id}",
    )


def _done(task_id: int = 1) -> TaskCompleted:
    return TaskCompleted(timestamp=T0, task_scheduled_id=task_id, result="1")


class _Activities:
    def complete(self, batch: Any, now: Any) -> list[int]:
        return []


def test_a_claim_reusing_a_waiting_results_row_does_not_lose_a_slot() -> None:
    slots = Slots(3)
    items = {n: _item(n) for n in (5, 7, 8)}
    delivery: ResultDelivery

    class Orchestrations:
        calls = 0

        def run_with_results(self, now: Any, batch: Any, **_: Any) -> list[Any]:
            Orchestrations.calls += 1
            if Orchestrations.calls == 1:  # while the first batch is delivered:
                delivery.finished(items[7], _done())
                delivery.finished(items[8], _done())
                assert slots.take_now(1) == 1  # the fetch loop takes a freed slot
                fetched = _item(9)
                delivery.track(fetched, LATER)
                # The commit claims the next activity of result 5's instance, on its row.
                assert slots.take_now(1) == 1
                claimed = _item(5, task_id=2)
                delivery.track(claimed, LATER)
                delivery.finished(fetched, _done())
                delivery.finished(claimed, _done(2))  # the queue is full: keeps its slot
                delivery.close()
            return []

    delivery = ResultDelivery(
        None,  # type: ignore[arg-type]
        Orchestrations(),  # type: ignore[arg-type]
        _Activities(),  # type: ignore[arg-type]
        slots=slots,
        direct_episodes=True,
        stopping=threading.Event(),
        lease_seconds=60.0,
    )
    for n in (90, 91, 92):  # three results wait already
        delivery._results.put((_item(n), _done()))
    assert slots.take_now(3) == 3
    for item in items.values():
        delivery.track(item, LATER)
    delivery.finished(items[5], _done())  # the queue is full: keeps its slot
    delivery.deliver_batches()
    assert slots.take_now(10) == 3  # every slot back, none lost, none extra
