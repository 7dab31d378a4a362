"""Harness: an app run in-process on the memory store, in virtual time.

Everything runs on the calling thread, in order. Each write of the harness's client
(``start_new``, ``raise_event``, ``terminate``...) runs every episode and activity that
is due before it returns. The virtual clock stands still while work runs: it moves only
with :meth:`Harness.advance` and when ``wait_for_completion`` finds nothing to run, which
moves it to the next due timer, so a 30-day timer fires at once.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from durably import payload
from durably.app import App
from durably.backends.base import ActivityWorkItem, NewInstance, NewMessage
from durably.backends.memory import MemoryBackend
from durably.client import Client
from durably.engine.context import function_name
from durably.engine.replay import OrchestrationExecutor
from durably.entities.ids import EntityId
from durably.errors import InstanceNotFoundError
from durably.history import (
    HistoryEvent,
    OrchestrationRuntimeStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
)
from durably.status import DurableOrchestrationStatus
from durably.worker import ActivityDispatcher, OrchestrationDispatcher

Status = OrchestrationRuntimeStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One activity attempt the harness ran (a retried activity makes one per attempt)."""

    name: str
    input: Any
    """The input, decoded from JSON: what the activity function received."""
    instance_id: str
    """The instance that scheduled it (a sub-orchestration's own id for its calls)."""
    at: _dt.datetime
    """The virtual time at which it ran."""


class Harness:
    """Runs ``app`` in-process on a private memory store, in virtual time.

    ``start`` is the virtual time to begin at (default: the wall clock's now; give one
    for timestamps and ``context.new_uuid()`` values that repeat from run to run).
    ``cache_size`` is the worker's: 0, the default, replays every episode from the
    start of its history, as after a restart, so that a nondeterministic orchestrator
    fails here rather than in production.

    Use it as a context manager, or call :meth:`close`. Activities run as they are
    registered (``async def`` ones on an event loop, ``isolation="process"`` ones in a
    child process), with no timeout; :meth:`mock_activity` replaces one for this
    harness only.
    """

    def __init__(self, app: App, *, start: _dt.datetime | None = None, cache_size: int = 0) -> None:
        self.app = app
        self._now = _utc(start) if start is not None else _dt.datetime.now(_dt.UTC)
        self._calls: list[Call] = []
        self._store = _VirtualStore(lambda: self._now)
        # A copy whose activity table mock_activity changes: ``app`` stays as it is.
        self._runner = copy.copy(app)
        self._runner.activities = dict(app.activities)
        self._runner.activity_options = dict(app.activity_options)
        owner = "harness"
        self._orchestrations = OrchestrationDispatcher(
            self._runner, self._store, owner=owner, cache_size=cache_size
        )
        self._activities = ActivityDispatcher(self._runner, self._store, owner=owner)
        self._client = _HarnessClient(self, self._store)

    # -- the public surface ---------------------------------------------------------
    @property
    def now(self) -> _dt.datetime:
        """The virtual time (UTC)."""
        return self._now

    @property
    def calls(self) -> list[Call]:
        """Every activity attempt run so far, in the order they ran."""
        return list(self._calls)

    def calls_of(self, activity: str | Callable[..., Any]) -> list[Any]:
        """The inputs of the attempts of one activity (by name or function), in order."""
        name = function_name(activity)
        return [call.input for call in self._calls if call.name == name]

    def client(self) -> Client:
        """The :class:`~durably.Client` of this harness (one for all calls).

        Its writes run what they make due before returning, and its
        ``wait_for_completion`` runs the instance to its end in virtual time.
        """
        return self._client

    def mock_activity(self, name: str | Callable[..., Any], fn: Callable[..., Any]) -> None:
        """Run ``fn`` instead of the activity ``name`` (its name or the function).

        ``fn`` takes the activity's input (or nothing) and may be ``async def``; what
        it raises fails the task as the activity's own error would. Only this harness
        sees the fake: the app and the function are unchanged. ``ValueError`` for an
        activity the app does not register.
        """
        activity = function_name(name)
        if activity not in self.app.activities:
            raise self.app.unknown_activity(activity)
        self._runner.activities[activity] = fn
        # A fake need not be importable: it runs here, whatever the activity's isolation.
        self._runner.activity_options.pop(activity, None)

    def advance(self, delta: _dt.timedelta | float) -> None:
        """Move the virtual time on by ``delta`` (a timedelta or seconds), running what
        comes due on the way in order: each timer fires at its own time."""
        step = _delta(delta)
        if step < _dt.timedelta(0):
            raise ValueError(f"virtual time cannot go back: advance({delta!r})")
        target = self._now + step
        self.run_until_idle()
        while (due := self._store.next_visible_at(self._now)) is not None and due <= target:
            self._now = due
            self.run_until_idle()
        self._now = target
        self.run_until_idle()

    def run_until_idle(self) -> int:
        """Run every episode and activity due at the current virtual time, and what they
        make due, until nothing is left; how many work items ran."""
        ran = 0
        while True:
            batch = self._orchestrations.run_once(self._now) + self._run_activities()
            if not batch:
                return ran
            ran += batch

    def close(self) -> None:
        """Close the store; the harness and its client cannot be used afterwards."""
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running --------------------------------------------------------------------
    def _run_activities(self) -> int:
        items = self._activities.fetch(self._now)
        if items:
            self._activities.complete([(item, self._attempt(item)) for item in items], self._now)
        return len(items)

    def _attempt(self, item: ActivityWorkItem) -> TaskCompleted | TaskFailed:
        outcome: TaskCompleted | TaskFailed | None = self._activities.poisoned(item)
        if outcome is None:
            call = Call(
                name=item.name,
                input=payload.loads(item.input, self.app.codec),
                instance_id=item.instance_id,
                at=self._now,
            )
            self._calls.append(call)
            outcome = self._activities.execute(item)
        # The dispatcher stamps results with the wall clock; history keeps virtual time.
        return dataclasses.replace(outcome, timestamp=self._now)

    def _run_to_end(self, instance_id: str, timeout: float | _dt.timedelta | None) -> None:
        """Run until the instance is Completed, Failed or Terminated, moving the virtual
        time to each next due timer. ``TimeoutError`` when ``timeout`` (virtual) passes
        first, or at once when nothing is due and no timer is pending (it waits for an
        event nobody raised, or to be resumed); ``InstanceNotFoundError`` if unknown."""
        wait = None if timeout is None else _delta(timeout)
        deadline = None if wait is None else self._now + wait
        while True:
            self.run_until_idle()
            record = self._store.get_instance(instance_id)
            if record is None:
                raise InstanceNotFoundError(instance_id)
            if record.runtime_status.is_terminal:
                return
            due = self._store.next_visible_at(self._now)
            if due is None:
                raise TimeoutError(self._stuck(instance_id))
            if deadline is not None and due > deadline:
                self._now = max(self._now, deadline)
                raise TimeoutError(
                    f"instance {instance_id!r} is still {record.runtime_status} after "
                    f"{wait} of virtual time (now {self._now}; the next timer or work is "
                    f"due at {due})"
                )
            self._now = due

    # -- explaining a wait that cannot end --------------------------------------------
    def _stuck(self, instance_id: str) -> str:
        return (
            f"instance {instance_id!r} waits for {self._waits_for(instance_id)}, and nothing "
            f"else can happen at virtual time {self._now}: no work is due and no timer is "
            "pending"
        )

    def _waits_for(self, instance_id: str) -> str:
        """What the instance waits for, in words: events, a resume, sub-orchestrations."""
        record = self._store.get_instance(instance_id)
        if record is None:
            return "nothing (it is gone)"
        if record.runtime_status is Status.Suspended:
            return "a resume (it is Suspended)"
        if record.runtime_status is Status.Pending:
            return "its start"
        history = self._store.get_history(instance_id)
        events = self._awaited_events(record.name, instance_id, history)
        reasons = [f"event {name!r}" for name in events]
        reasons += [
            f"sub-orchestration {child!r}, which waits for {self._waits_for(child)}"
            for child in _open_children(history)
        ]
        return " and ".join(reasons) or "something no timer or work will bring (an event?)"

    def _awaited_events(
        self, name: str, instance_id: str, history: list[HistoryEvent]
    ) -> list[str]:
        """The events a replay of ``history`` leaves the orchestrator waiting for."""
        orchestrator = self.app.orchestrators.get(name)
        if orchestrator is None:
            return []
        executor = OrchestrationExecutor(orchestrator, instance_id=instance_id)
        try:
            executor.replay(history)
        except Exception:
            return []
        # The engine keeps its waiters in the execution's state, which it does not
        # publish: read them if they are there (an error message only names fewer).
        state = getattr(executor, "_state", None)
        waiters = getattr(state, "waiters", None) or {}
        return [str(task.name) for queue in waiters.values() for task in queue]


class _VirtualStore(MemoryBackend):
    """A private memory store that moves what clients write into virtual time.

    Clients stamp instances and messages with the wall clock; here a stamp not in the
    future is the virtual now, and a later one keeps its distance from it.
    """

    def __init__(self, clock: Callable[[], _dt.datetime]) -> None:
        super().__init__()
        self._clock = clock

    def create_instance(self, instance: NewInstance) -> None:
        super().create_instance(self._virtual_instance(instance))

    def send_message(self, message: NewMessage) -> None:
        super().send_message(self._virtual_message(message))

    def send_to_entity(self, row: NewInstance, message: NewMessage) -> None:
        super().send_to_entity(self._virtual_instance(row), self._virtual_message(message))

    def _virtual_instance(self, instance: NewInstance) -> NewInstance:
        at = self._virtual(instance.visible_at)
        start = dataclasses.replace(instance.start_event, timestamp=at)
        created = self._virtual(instance.created_time)
        return dataclasses.replace(instance, created_time=created, visible_at=at, start_event=start)

    def _virtual_message(self, message: NewMessage) -> NewMessage:
        at = self._virtual(message.visible_at)
        event = dataclasses.replace(message.event, timestamp=at)
        return dataclasses.replace(message, visible_at=at, event=event)

    def _virtual(self, stamp: _dt.datetime) -> _dt.datetime:
        ahead = _utc(stamp) - _dt.datetime.now(_dt.UTC)
        return self._clock() + max(ahead, _dt.timedelta(0))


class _HarnessClient(Client):
    """The harness's client: its writes run what they make due, and waits run in
    virtual time (see :class:`Harness`)."""

    def __init__(self, harness: Harness, store: MemoryBackend) -> None:
        super().__init__(store, app=harness.app)
        self._harness = harness

    def _create_instance(self, new: NewInstance, *, fresh_id: bool) -> None:
        super()._create_instance(new, fresh_id=fresh_id)
        self._harness.run_until_idle()

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        super().raise_event(instance_id, event_name, event_data)
        self._harness.run_until_idle()

    def terminate(self, instance_id: str, reason: Any = None, *, recursive: bool = True) -> bool:
        terminated = super().terminate(instance_id, reason, recursive=recursive)
        self._harness.run_until_idle()
        return terminated

    def suspend(self, instance_id: str, reason: Any = None) -> None:
        super().suspend(instance_id, reason)
        self._harness.run_until_idle()

    def resume(self, instance_id: str, reason: Any = None) -> None:
        super().resume(instance_id, reason)
        self._harness.run_until_idle()

    def rewind(self, instance_id: str, reason: Any = None) -> None:
        super().rewind(instance_id, reason)
        self._harness.run_until_idle()

    def signal_entity(
        self,
        entity_id: EntityId | tuple[str, str],
        operation: str,
        input_: Any = None,
        *,
        signal_time: _dt.datetime | None = None,
    ) -> None:
        super().signal_entity(entity_id, operation, input_, signal_time=signal_time)
        self._harness.run_until_idle()

    def wait_for_completion(
        self, instance_id: str, timeout: float | _dt.timedelta | None = None
    ) -> DurableOrchestrationStatus:
        """Run the instance to its end in virtual time (see :class:`Harness`)."""
        self.get_status(instance_id)  # TypeError for an id that is not a string
        self._harness._run_to_end(instance_id, timeout)
        return super().wait_for_completion(instance_id, timeout=0)


def _open_children(history: list[HistoryEvent]) -> list[str]:
    """The sub-orchestrations the history started and has no result of."""
    started = {
        e.event_id: e.instance_id for e in history if isinstance(e, SubOrchestrationInstanceCreated)
    }
    for event in history:
        if isinstance(event, SubOrchestrationInstanceCompleted | SubOrchestrationInstanceFailed):
            started.pop(event.task_scheduled_id, None)
    return list(started.values())


def _delta(value: _dt.timedelta | float) -> _dt.timedelta:
    return value if isinstance(value, _dt.timedelta) else _dt.timedelta(seconds=value)


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)
