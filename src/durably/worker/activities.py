"""The activity dispatcher: lock activity work, run the functions, deliver the results.

Sync activities run wherever the caller runs them (the worker uses a thread pool);
``async def`` activities run on an event loop. A result (or the failure) is delivered
to the instance's inbox in the same transaction that deletes the work item. Whatever an
activity raises, ``SystemExit`` included, becomes its recorded failure.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from durably import codecs, logs, payload, tracing
from durably.app import App
from durably.backends.base import ActivityResult, ActivityWorkItem, Backend
from durably.errors import PayloadTooLargeError, PoisonWorkError
from durably.history import FailureDetails, TaskCompleted, TaskFailed
from durably.typed import typed_input
from durably.worker import isolation, observe

log = logging.getLogger("durably.worker")


class ActivityDispatcher:
    """Runs activity work items for one worker."""

    def __init__(
        self,
        app: App,
        backend: Backend,
        *,
        owner: str,
        lease: _dt.timedelta = _dt.timedelta(seconds=300),
        batch_size: int = 64,
        max_dequeue_count: int = 5,
    ) -> None:
        self._max_dequeue_count = max_dequeue_count
        self._app = app
        self._backend = backend
        self._owner = owner
        self._lease = lease
        self._batch_size = batch_size
        self._async: dict[Callable[..., Any], bool] = {}

    @property
    def lease(self) -> _dt.timedelta:
        return self._lease

    def fetch(self, now: _dt.datetime, limit: int | None = None) -> list[ActivityWorkItem]:
        """Lock up to ``limit`` activity work items."""
        return self._backend.lock_next_activities(
            owner=self._owner, now=now, lease=self._lease, limit=limit or self._batch_size
        )

    def is_async(self, item: ActivityWorkItem) -> bool:
        """Whether the activity runs on the event loop (``async def``, not in a process)."""
        function = self._app.activities.get(item.name)
        if function is None or self._isolated(item):
            return False
        answer = self._async.get(function)
        if answer is None:  # inspect is slow: asked once per function
            answer = self._async[function] = inspect.iscoroutinefunction(function)
        return answer

    def execute(self, item: ActivityWorkItem) -> TaskCompleted | TaskFailed:
        """Run the activity here (an ``async def`` one on a fresh event loop), or in a
        child process for ``isolation="process"``."""
        started = time.perf_counter()
        with tracing.activity_span(item) as span:
            outcome = span.set(self._execute(item))
        _report(item, outcome, started)
        return outcome

    def _execute(self, item: ActivityWorkItem) -> TaskCompleted | TaskFailed:
        if self._isolated(item):
            return self._execute_in_process(item)
        try:
            function = self._function(item.name)
            value = call_activity(function, typed_input(function, self._input(item)))
            if inspect.isawaitable(value):
                import asyncio

                value = asyncio.run(_awaited(value))
            return self._completed(item, value)
        except BaseException as exc:  # SystemExit too: a recorded failure, never a redelivery
            return self._failed(item, exc)

    async def execute_async(self, item: ActivityWorkItem) -> TaskCompleted | TaskFailed:
        """Run an ``async def`` activity on the running event loop (cancelled, and failed
        with ``TimeoutError``, if it runs past its timeout)."""
        started = time.perf_counter()
        with tracing.activity_span(item) as span:
            outcome = span.set(await self._execute_async(item))
        _report(item, outcome, started)
        return outcome

    async def _execute_async(self, item: ActivityWorkItem) -> TaskCompleted | TaskFailed:
        import asyncio  # only apps with async activities pay for importing it

        try:
            function = self._function(item.name)
            call = call_activity(function, typed_input(function, self._input(item)))
            timeout = self.timeout(item)
            try:
                value = await (call if timeout is None else asyncio.wait_for(call, timeout))
            except TimeoutError:
                raise self._timeout_error(item) from None
            return self._completed(item, value)
        except BaseException as exc:  # as in execute (nothing cancels these tasks)
            return self._failed(item, exc)

    def poisoned(self, item: ActivityWorkItem) -> TaskFailed | None:
        """The failure of an item delivered too often without a report back, or None."""
        options = self._app.activity_options.get(item.name)
        limit = options.max_dequeue_count if options and options.max_dequeue_count else None
        limit = limit or self._max_dequeue_count
        if item.dequeue_count <= limit:
            return None
        error = PoisonWorkError(
            f"activity {item.name!r} was delivered {item.dequeue_count - 1} times without its "
            f"worker reporting back (max_dequeue_count={limit}): it is not run again"
        )
        return self._failed(item, error)

    def timeout(self, item: ActivityWorkItem) -> float | None:
        """The activity's timeout in seconds (None: none)."""
        options = self._app.activity_options.get(item.name)
        return None if options is None else options.timeout

    def give_up_after(self, item: ActivityWorkItem) -> float | None:
        """Seconds after which the pool gives up the thread running ``item`` (None: never;
        an activity in a process is killed at its timeout instead)."""
        return None if self._isolated(item) else self.timeout(item)

    def _isolated(self, item: ActivityWorkItem) -> bool:
        options = self._app.activity_options.get(item.name)
        return options is not None and options.isolation == "process"

    def _execute_in_process(self, item: ActivityWorkItem) -> TaskCompleted | TaskFailed:

        try:
            function = self._function(item.name)
            text = isolation.run(
                function, self._input(item), name=item.name, timeout=self.timeout(item)
            )
            text = codecs.encode(text, self._app.codec)
        except isolation.ChildProcessFailure as exc:  # what the function raised, over there
            return self._failure(item, exc.details)
        except BaseException as exc:  # timed out and killed, or the process died
            return self._failed(item, exc)
        limit = self._app.max_payload_bytes
        if text is not None and len(text) > limit:
            what = f"the result of activity {item.name!r}"
            return self._failed(item, PayloadTooLargeError(what, len(text), limit))
        now = _dt.datetime.now(_dt.UTC)
        return TaskCompleted(timestamp=now, task_scheduled_id=item.task_id, result=text)

    def timed_out(self, item: ActivityWorkItem) -> TaskFailed:
        """The failure of an attempt that ran past its timeout (the pool gave it up)."""
        # Not reported here: the attempt's thread reports it when it ends, as it ends.
        return self._failed(item, self._timeout_error(item))

    def _timeout_error(self, item: ActivityWorkItem) -> TimeoutError:
        return TimeoutError(f"activity {item.name!r} ran longer than {self.timeout(item)} s")

    def complete(
        self, done: Sequence[tuple[ActivityWorkItem, TaskCompleted | TaskFailed]], now: _dt.datetime
    ) -> list[int]:
        """Deliver results in one transaction; the message ids whose lock was lost."""
        results = [ActivityResult(work_item=i, event=e, visible_at=now) for i, e in done]
        return self._backend.complete_activities(results)

    def run_once(self, now: _dt.datetime) -> int:
        """Fetch a batch, run each activity inline, deliver the results; the batch size."""
        items = self.fetch(now)
        if items:
            self.complete(
                [(item, self.poisoned(item) or self.execute(item)) for item in items], now
            )
        return len(items)

    def _function(self, name: str) -> Callable[..., Any]:
        function = self._app.activities.get(name)
        if function is None:
            raise self._app.unknown_activity(name)
        return function

    def _input(self, item: ActivityWorkItem) -> str | None:
        """The request's input as JSON text (decoded by the app's codec)."""
        return codecs.decode(item.input, self._app.codec)

    def _completed(self, item: ActivityWorkItem, value: Any) -> TaskCompleted:
        text = payload.dumps(
            value,
            what=f"the result of activity {item.name!r}",
            limit=self._app.max_payload_bytes,
            codec=self._app.codec,
        )
        return TaskCompleted(
            timestamp=_dt.datetime.now(_dt.UTC), task_scheduled_id=item.task_id, result=text
        )

    @staticmethod
    def _failed(item: ActivityWorkItem, exc: BaseException) -> TaskFailed:
        return ActivityDispatcher._failure(item, FailureDetails.from_exception(exc))

    @staticmethod
    def _failure(item: ActivityWorkItem, details: FailureDetails) -> TaskFailed:
        log.warning(
            "activity %s of %s (task %d, delivery %d) failed: %s",
            item.name,
            item.instance_id,
            item.task_id,
            item.dequeue_count,
            details,
            extra=logs.fields(item.instance_id, item.execution_id, item.name),
        )
        return TaskFailed(
            timestamp=_dt.datetime.now(_dt.UTC),
            task_scheduled_id=item.task_id,
            failure_details=details,
        )


async def _awaited(value: Any) -> Any:
    return await value


@functools.cache
def _takes_input(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


def call_activity(function: Callable[..., Any], value: Any) -> Any:
    """Call an activity function with its input, or with nothing if it takes none."""
    return function(value) if _takes_input(function) else function()


def _report(item: ActivityWorkItem, outcome: TaskCompleted | TaskFailed, started: float) -> None:
    """Tell the observer, if any, how an attempt ended and how long it took."""
    observer = observe.current()
    if observer is not None:
        status = "Completed" if isinstance(outcome, TaskCompleted) else "Failed"
        observer.activity_done(item.name, status, time.perf_counter() - started)
