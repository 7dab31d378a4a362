"""The in-process wake-ups behind wait_for_work."""

from __future__ import annotations

import datetime as _dt
import threading
import time

from durably.backends._notify import Notifier


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def test_a_notification_wakes_the_next_wait_once() -> None:
    notifier = Notifier()
    notifier.notify("orchestration")
    assert notifier.wait("orchestration", 5.0) is True
    started = time.monotonic()
    assert notifier.wait("orchestration", 0.1) is False
    assert time.monotonic() - started >= 0.09


def test_kinds_are_independent() -> None:
    notifier = Notifier()
    notifier.notify("activity")
    assert notifier.wait("status", 0.05) is False
    assert notifier.wait("activity", 0.05) is True


def test_a_waiting_thread_is_woken() -> None:
    notifier = Notifier()
    woke: list[float] = []

    def waiter() -> None:
        started = time.monotonic()
        notifier.wait("status", 10.0)
        woke.append(time.monotonic() - started)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.1)
    notifier.notify("status")
    thread.join(5)
    assert woke and woke[0] < 2.0


def test_a_wait_ends_when_future_work_comes_due() -> None:
    notifier = Notifier()
    notifier.notify("orchestration", visible_at=_now() + _dt.timedelta(seconds=0.3))
    assert notifier.wait("orchestration", 10.0) is True  # the notification itself
    started = time.monotonic()
    assert notifier.wait("orchestration", 10.0) is True  # the due time
    assert 0.1 < time.monotonic() - started < 2.0
    assert notifier.wait("orchestration", 0.05) is False


def test_work_that_came_due_while_nobody_waited_returns_at_once() -> None:
    notifier = Notifier()
    notifier.notify("activity", visible_at=_now() + _dt.timedelta(seconds=0.05))
    assert notifier.wait("activity", 0.0) is True
    time.sleep(0.1)
    started = time.monotonic()
    assert notifier.wait("activity", 10.0) is True
    assert time.monotonic() - started < 0.5


def test_past_visibility_does_not_linger() -> None:
    notifier = Notifier()
    notifier.notify("orchestration", visible_at=_now() - _dt.timedelta(seconds=5))
    assert notifier.wait("orchestration", 1.0) is True
    assert notifier.wait("orchestration", 0.05) is False


def test_notify_all_wakes_every_kind() -> None:
    notifier = Notifier()
    notifier.notify_all()
    assert all(notifier.wait(kind, 0.0) for kind in ("orchestration", "activity", "status"))
