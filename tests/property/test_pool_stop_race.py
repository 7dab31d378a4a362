"""A race the worker property runs found, reduced to the activity pool.

``ThreadPool.submit`` used to start a new thread and only then register it, and
``shutdown`` sends one stop sentinel per *registered* thread. When the thread that called
``submit`` lost the processor between the two (the new thread ran the activity and
handed its result on first: the instance could even finish), a stop in that window sent
one sentinel too few: the unregistered thread took a registered thread's sentinel, or
none was sent at all. ``Worker.stop`` then waited its whole timeout (30 s by default) for
a thread that was idle, or left an idle pool thread blocked forever. A thread is now
started and registered under the lock ``shutdown`` takes to list the threads it stops.

Seen in ``test_worker.py`` under load: a run of ``{"steps": [["retry", 6, 2, 2],
["retry", 6, 2, 2]], "rounds": 2}`` with ``cache_size=0`` whose ``Worker.stop`` took
30.0 s, the orchestration loop still inside ``thread.start()`` in ``submit`` while the
thread it started had run the last activity and gone idle.
"""

from __future__ import annotations

import datetime as _dt
import threading
import types
from typing import Any

import pytest

from durably.backends.base import ActivityWorkItem
from durably.history import TaskCompleted
from durably.worker import pool

ITEM = ActivityWorkItem(
    message_id=1, instance_id="i", execution_id="e", task_id=0, name="a", lock_token="t"
)


class _Activities:
    def execute(self, item: ActivityWorkItem) -> TaskCompleted:
        return TaskCompleted(timestamp=_dt.datetime.now(_dt.UTC), task_scheduled_id=0)

    def give_up_after(self, item: ActivityWorkItem) -> float | None:
        return None

    def timed_out(self, item: ActivityWorkItem) -> TaskCompleted:
        raise AssertionError("no activity has a timeout here")


@pytest.mark.timeout(30)
def test_a_stop_ends_a_thread_whose_start_has_not_returned(monkeypatch: Any) -> None:
    registered = threading.Event()  # held until the pool has been shut down
    started: list[threading.Thread] = []

    class SlowToRegister(threading.Thread):
        def start(self) -> None:
            super().start()
            started.append(self)
            registered.wait(1)  # the submitter loses the processor right here

    monkeypatch.setattr(
        pool, "threading", types.SimpleNamespace(**{**vars(threading), "Thread": SlowToRegister})
    )
    ran = threading.Event()
    threads = pool.ThreadPool(4, _Activities(), lambda item, outcome: ran.set())
    submitter = threading.Thread(target=threads.submit, args=(ITEM,))
    submitter.start()
    assert ran.wait(10), "the activity never ran"
    threads.shutdown(timeout=0.5)
    registered.set()
    submitter.join(10)
    started[0].join(1)
    assert not started[0].is_alive(), "the pool thread outlived the shutdown"
