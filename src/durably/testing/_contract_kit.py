"""Builders and small assertions shared by the backend contract checks."""

from __future__ import annotations

import contextlib
import datetime as _dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from durably.backends.base import (
    ActivityTask,
    Backend,
    FastBackend,
    InstanceQuery,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.backends.derived import with_fast_paths
from durably.history import (
    EventRaised,
    ExecutionStarted,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)

Status = OrchestrationRuntimeStatus
T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)
"""The fixed "now" of checks that do not wait: backends take time from their callers."""
LEASE = _dt.timedelta(seconds=30)
OWNER = "contract-worker"


class StoreFactory(Protocol):
    """Opens a new backend object on the store of the current test.

    Every call returns another object on the same store (as another process would
    open it); the same ``task_hub`` means the same hub. The store starts empty for each
    test, and the factory closes what it opened when the test ends.
    """

    def __call__(self, task_hub: str = "default") -> Backend: ...


Check = Callable[[StoreFactory], None]

OWN_FAST_PATHS: set[Check] = set()
"""Fast-path checks of what only a store's own fast paths do (claims honoured, commits
without a lock applied): derived fast paths decline those, as the protocol allows."""


def registry() -> tuple[list[Check], Callable[[Check], Check]]:
    """A module's list of checks and the decorator that adds a check to it."""
    checks: list[Check] = []

    def register(function: Check) -> Check:
        checks.append(function)
        return function

    return checks, register


def own_fast_paths(check: Check) -> Check:
    """Mark a fast-path check that derived fast paths do not pass (see OWN_FAST_PATHS)."""
    OWN_FAST_PATHS.add(check)
    return check


def fast(factory: StoreFactory, task_hub: str = "default") -> FastBackend:
    """A new store object with its fast paths (its own, or derived from its core)."""
    return with_fast_paths(factory(task_hub))


def seconds(value: float) -> _dt.timedelta:
    return _dt.timedelta(seconds=value)


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@contextlib.contextmanager
def raises(kind: type[BaseException]) -> Iterator[list[BaseException]]:
    """Like ``pytest.raises`` without needing pytest: the caught error lands in the list."""
    caught: list[BaseException] = []
    try:
        yield caught
    except kind as exc:
        caught.append(exc)
    else:
        raise AssertionError(f"{kind.__name__} was not raised")


def start(
    instance_id: str,
    *,
    name: str = "orch",
    created: _dt.datetime = T0,
    input: str | None = None,
    parent: str | None = None,
    visible_at: _dt.datetime | None = None,
    on_conflict: NewMessage | None = None,
    version: str | None = None,
) -> NewInstance:
    """A NewInstance with its ExecutionStarted event and a fresh execution id."""
    return NewInstance(
        instance_id=instance_id,
        name=name,
        execution_id=uuid.uuid4().hex,
        input=input,
        parent_instance_id=parent,
        created_time=created,
        start_event=ExecutionStarted(
            timestamp=created,
            name=name,
            instance_id=instance_id,
            input=input,
            parent_instance_id=parent,
            version=version,
        ),
        visible_at=visible_at or created,
        on_conflict=on_conflict,
        version=version,
    )


def message(
    instance_id: str,
    name: str = "event",
    *,
    data: str | None = None,
    visible_at: _dt.datetime = T0,
    execution_id: str | None = None,
) -> NewMessage:
    """An EventRaised message for ``instance_id``."""
    event = EventRaised(timestamp=visible_at, name=name, input=data)
    return NewMessage(
        instance_id=instance_id, event=event, visible_at=visible_at, execution_id=execution_id
    )


def note(text: str, at: _dt.datetime = T0) -> GenericEvent:
    return GenericEvent(timestamp=at, data=text)


def lock(
    backend: Backend,
    *,
    now: _dt.datetime = T0,
    limit: int = 100,
    lease: _dt.timedelta = LEASE,
    owner: str = OWNER,
) -> list[OrchestrationWorkItem]:
    return backend.lock_next_orchestrations(owner=owner, now=now, lease=lease, limit=limit)


def lock_named(
    backend: Backend,
    instance_ids: Sequence[str],
    *,
    now: _dt.datetime = T0,
    lease: _dt.timedelta = LEASE,
    owner: str = OWNER,
) -> list[OrchestrationWorkItem]:
    """Lock the free ones of ``instance_ids`` (and no others)."""
    return backend.lock_next_orchestrations(
        owner=owner, now=now, lease=lease, limit=0, instance_ids=instance_ids
    )


def lock_one(
    backend: Backend,
    instance_id: str,
    *,
    now: _dt.datetime = T0,
    lease: _dt.timedelta = LEASE,
) -> OrchestrationWorkItem:
    """Lock ``instance_id`` (which must have visible work); other instances stay free."""
    mine = []
    for item in lock(backend, now=now, lease=lease):
        if item.instance.instance_id == instance_id:
            mine.append(item)
        else:
            backend.abandon_orchestration(item)
    assert len(mine) == 1, f"expected to lock {instance_id!r}, got {mine!r}"
    return mine[0]


def locked_ids(backend: Backend, *, now: _dt.datetime = T0, limit: int = 100) -> list[str]:
    return [i.instance.instance_id for i in lock(backend, now=now, limit=limit)]


def commit(
    item: OrchestrationWorkItem,
    *,
    events: Sequence[HistoryEvent] = (),
    status: Status = Status.Running,
    at: _dt.datetime = T0,
    reset_history: bool = False,
    output: str | None = None,
    custom_status: str | None = None,
    execution_id: str | None = None,
    activities: Sequence[ActivityTask] = (),
    messages: Sequence[NewMessage] = (),
    new_instances: Sequence[NewInstance] = (),
) -> OrchestrationCommit:
    """The commit of one episode for ``item`` (name and input unchanged)."""
    return OrchestrationCommit(
        work_item=item,
        new_events=tuple(events),
        reset_history=reset_history,
        runtime_status=status,
        execution_id=execution_id or item.instance.execution_id,
        name=item.instance.name,
        input=item.instance.input,
        output=output,
        custom_status=custom_status,
        last_updated_time=at,
        activities=tuple(activities),
        messages=tuple(messages),
        new_instances=tuple(new_instances),
    )


def activity(
    item: OrchestrationWorkItem, task_id: int, *, visible_at: _dt.datetime = T0
) -> ActivityTask:
    return ActivityTask(
        instance_id=item.instance.instance_id,
        execution_id=item.instance.execution_id,
        task_id=task_id,
        name=f"activity-{task_id}",
        input=f'"input-{task_id}"',
        visible_at=visible_at,
    )


def drive(
    backend: Backend, instance_id: str, status: Status, *, now: _dt.datetime = T0
) -> OrchestrationWorkItem:
    """Run one episode of ``instance_id`` that records a note and sets ``status``."""
    backend.send_message(message(instance_id, "drive", visible_at=now))
    item = lock_one(backend, instance_id, now=now)
    lost = backend.commit_orchestrations([commit(item, events=[note(status.value)], status=status)])
    assert lost == []
    return item


def listed(backend: Backend, **filters: Any) -> list[str]:
    page = backend.list_instances(InstanceQuery(**filters))
    return [record.instance_id for record in page.instances]
