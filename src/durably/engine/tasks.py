"""Tasks: what an orchestrator yields and gets a result back from.

A task is completed (with a result) or faulted (with an exception) exactly once.
Composite tasks (``task_all``, ``task_any``, retries, event timeouts) listen to their
children and settle when their rule says so.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, TypeVar

from durably import payload
from durably.actions import AnyAction
from durably.codecs import Codec
from durably.errors import TaskFailedError
from durably.typed import NO_TYPE, convert

T = TypeVar("T")


class Task(Generic[T]):
    """A unit of work an orchestrator waits on by yielding (or awaiting) it; ``T`` is
    what its result is, for type checkers (``await`` gives it)."""

    __slots__ = ("_exception", "_listeners", "_result", "_state")

    def __init__(self) -> None:
        self._state = 0  # 0 pending, 1 completed, 2 faulted
        self._result: Any = None
        self._exception: BaseException | None = None
        self._listeners: list[Callable[[Task[Any]], None]] = []

    @property
    def is_completed(self) -> bool:
        """True once the task finished, successfully or not."""
        return self._state != 0

    @property
    def is_faulted(self) -> bool:
        """True if the task finished with an exception."""
        return self._state == 2

    @property
    def result(self) -> Any:
        """The task's result (``None`` while pending or faulted)."""
        return self._result

    @property
    def exception(self) -> BaseException | None:
        """The exception of a faulted task."""
        return self._exception

    def __await__(self) -> Generator[Task[Any], Any, T]:
        """``await task`` in an ``async def`` orchestrator: the engine drives the
        coroutine as it drives a generator, so awaiting hands it the task, as ``yield``."""
        result: T = yield self
        return result

    def _complete(self, result: Any) -> None:
        if self._state:
            return
        self._state, self._result = 1, result
        self._notify()

    def _fail(self, exception: BaseException) -> None:
        if self._state:
            return
        self._state, self._exception = 2, exception
        self._notify()

    def _notify(self) -> None:
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(self)

    def _listen(self, listener: Callable[[Task[Any]], None]) -> None:
        if self._state:
            listener(self)
        else:
            self._listeners.append(listener)


class AtomicTask(Task[Any]):
    """A task backed by one action (activity, timer, sub-orchestration)."""

    __slots__ = ("action", "return_type")

    def __init__(self, action: AnyAction) -> None:
        super().__init__()
        self.action = action
        self.return_type: Any = NO_TYPE
        """What the result is converted to (:func:`durably.typed.convert`)."""

    def complete_json(self, result: str | None, codec: Codec | None) -> None:
        """Complete with ``result`` (stored JSON) converted to :attr:`return_type`; a
        result that does not fit fails the task with a ``TaskFailedError`` the
        orchestrator can catch."""
        value = payload.loads(result, codec)
        if self.return_type is NO_TYPE:
            self._complete(value)
            return
        try:
            self._complete(convert(value, self.return_type, path="result"))
        except TypeError as exc:
            self._fail(TaskFailedError(str(exc), error_type="TypeError"))

    @property
    def task_id(self) -> int:
        return self.action.task_id


class TimerTask(AtomicTask):
    """A durable timer; ``cancel()`` makes the orchestration stop waiting for it."""

    __slots__ = ("_on_cancel", "created_at", "fire_at", "is_cancelled")

    def __init__(
        self,
        action: AnyAction,
        fire_at: _dt.datetime,
        on_cancel: Callable[[TimerTask], None],
        created_at: _dt.datetime | None = None,
    ) -> None:
        super().__init__(action)
        self.fire_at = fire_at
        self.created_at = created_at
        """The orchestration's time when it created the timer."""
        self.is_cancelled = False
        self._on_cancel = on_cancel

    def cancel(self) -> None:
        """Cancel a pending timer; a fired or cancelled timer is left as it is."""
        if self.is_completed or self.is_cancelled:
            return
        self.is_cancelled = True
        self._on_cancel(self)


class ExternalEventTask(Task[Any]):
    """Waits for the next event raised with ``name`` (compared case-insensitively)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class WhenAllTask(Task[Any]):
    """Completes with every child's result, in order; fails on the first failure."""

    __slots__ = ("_children", "_remaining")

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__()
        self._children = list(children)
        self._remaining = len(self._children)
        if not self._children:
            self._complete([])
        for child in self._children:
            child._listen(self._on_child)

    def _on_child(self, child: Task[Any]) -> None:
        if child.is_faulted:
            assert child.exception is not None
            self._fail(child.exception)
            return
        self._remaining -= 1
        if self._remaining == 0:
            self._complete([c.result for c in self._children])


class WhenAnyTask(Task[Any]):
    """Completes with the first child to finish (the task object itself)."""

    __slots__ = ()

    def __init__(self, children: Sequence[Task[Any]]) -> None:
        super().__init__()
        if not children:
            raise ValueError("task_any needs at least one task")
        for child in children:
            child._listen(self._complete)


class EventWithTimeoutTask(Task[Any]):
    """An external event raced against a timer; the timer winning raises ``TimeoutError``."""

    __slots__ = ("_event", "_timer")

    def __init__(self, event: ExternalEventTask, timer: TimerTask, on_timeout: Callable[[], None]):
        super().__init__()
        self._event, self._timer = event, timer

        def event_done(task: Task[Any]) -> None:
            timer.cancel()
            self._complete(task.result)

        def timer_done(_: Task[Any]) -> None:
            on_timeout()
            self._fail(TimeoutError(f"no event {event.name!r} arrived before {timer.fire_at}"))

        event._listen(event_done)
        timer._listen(timer_done)


class RetryableTask(Task[Any]):
    """Runs attempts until one succeeds or the retry policy gives up.

    ``start_attempt`` schedules a fresh attempt; ``schedule_delay`` returns a timer task
    for the wait before the next one, or ``None`` when the policy gives up.
    """

    __slots__ = ("_attempt", "_schedule_delay", "_start_attempt")

    def __init__(
        self,
        start_attempt: Callable[[], Task[Any]],
        schedule_delay: Callable[[int], Task[Any] | None],
    ) -> None:
        super().__init__()
        self._start_attempt, self._schedule_delay = start_attempt, schedule_delay
        self._attempt = 0
        self._run()

    def _run(self) -> None:
        self._attempt += 1
        self._start_attempt()._listen(self._on_attempt)

    def _on_attempt(self, task: Task[Any]) -> None:
        if not task.is_faulted:
            self._complete(task.result)
            return
        delay = self._schedule_delay(self._attempt)
        if delay is None:
            assert task.exception is not None
            self._fail(task.exception)
        else:
            delay._listen(lambda _: self._run())
