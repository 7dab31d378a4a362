"""The data structures behind :class:`~durably.backends.memory.MemoryBackend`, and the
checks that keep it honest as a twin of the SQL stores."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as _dt
import enum
import itertools
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from durably.backends._codec import to_micros, utc
from durably.backends._notify import Notifier
from durably.backends.base import (
    ActivityClaim,
    ActivityTask,
    ActivityWorkItem,
    InboxMessage,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.errors import InstanceExistsError
from durably.history import ACTIVE_STATUSES, FailureDetails, HistoryEvent

# (A list is a lock set: entity instance ids, which are strings.)
_ENCODABLE = (str, int, float, type(None), _dt.datetime, enum.Enum, FailureDetails, list)
_FIELD_NAMES: dict[type[HistoryEvent], tuple[str, ...]] = {}


@dataclass(slots=True, kw_only=True)
class Message:
    """An inbox message."""

    id: int
    instance_id: str
    execution_id: str | None
    visible_at: int
    event: HistoryEvent


@dataclass(slots=True, kw_only=True)
class Lock:
    """A lease: free when it has no expiry or the expiry passed."""

    owner: str | None = None
    token: str | None = None
    expires: int | None = None

    def is_free(self, now: int) -> bool:
        return self.expires is None or self.expires <= now


@dataclass(slots=True, kw_only=True)
class Instance:
    """An instance row with its history, inbox, activity ids and lock."""

    record: InstanceRecord
    history: list[HistoryEvent] = field(default_factory=list)
    inbox: dict[int, Message] = field(default_factory=dict)  # insertion order is id order
    activities: set[int] = field(default_factory=set)
    lock: Lock = field(default_factory=Lock)
    dequeue_count: int = 0
    """Leases since the last commit."""

    def lock_for(self, owner: str, now: int, expires: int) -> OrchestrationWorkItem:
        """Lease the instance to ``owner`` (a counted delivery); its work item with the
        messages visible now."""
        token = uuid.uuid4().hex
        self.lock = Lock(owner=owner, token=token, expires=expires)
        self.dequeue_count += 1
        messages = tuple(
            InboxMessage(message_id=m.id, event=m.event, execution_id=m.execution_id)
            for m in self.inbox.values()
            if m.visible_at <= now
        )
        return OrchestrationWorkItem(
            instance=self.record,
            messages=messages,
            lock_token=token,
            dequeue_count=self.dequeue_count,
        )


@dataclass(slots=True, kw_only=True)
class Activity:
    """A queued activity request."""

    id: int
    task: ActivityTask
    visible_at: int
    lock: Lock = field(default_factory=Lock)
    dequeue_count: int = 0


class Queue:
    """Ids ordered by ``(visible_at, id)``; everything visible at ``now`` is a prefix."""

    def __init__(self) -> None:
        self._keys: list[tuple[int, int]] = []

    def add(self, visible_at: int, item_id: int) -> None:
        bisect.insort(self._keys, (visible_at, item_id))

    def remove(self, visible_at: int, item_id: int) -> None:
        index = bisect.bisect_left(self._keys, (visible_at, item_id))
        if index < len(self._keys) and self._keys[index] == (visible_at, item_id):
            del self._keys[index]

    def first_due(self) -> int | None:
        """The earliest ``visible_at`` queued, if any."""
        return self._keys[0][0] if self._keys else None

    def due(self, now: int) -> int:
        """How many are visible at ``now``."""
        return bisect.bisect_right(self._keys, (now, float("inf")))

    def visible(self, now: int) -> Iterator[int]:
        for visible_at, item_id in self._keys:
            if visible_at > now:
                return
            yield item_id


class Store:
    """The data of one task hub; shared by every backend opened on the same name."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.notifier = Notifier()
        self.instances: dict[str, Instance] = {}
        self.messages: dict[int, Message] = {}
        self.inbox = Queue()
        self.activities: dict[int, Activity] = {}
        self.activity_queue = Queue()
        self.ids = itertools.count(1)

    # -- operations (callers hold ``lock``) ---------------------------------------
    def create(self, new: NewInstance) -> None:
        """Create ``new`` with its start message, replacing a finished instance."""
        existing = self.instances.get(new.instance_id)
        if existing is not None:
            status = existing.record.runtime_status
            if status in ACTIVE_STATUSES:
                raise InstanceExistsError(new.instance_id, status)
            self.delete(new.instance_id)
        record = new.pending_record()
        self.instances[new.instance_id] = Instance(record=record)
        start = NewMessage(
            instance_id=new.instance_id,
            event=new.start_event,
            visible_at=new.visible_at,
            execution_id=new.execution_id,
        )
        self.enqueue(start)

    def enqueue(self, message: NewMessage) -> bool:
        """Add ``message`` to its instance's inbox; False if there is no such instance."""
        instance = self.instances.get(message.instance_id)
        if instance is None:
            return False
        stored = Message(
            id=next(self.ids),
            instance_id=message.instance_id,
            execution_id=message.execution_id,
            visible_at=to_micros(message.visible_at),
            event=message.event,
        )
        self.messages[stored.id] = stored
        instance.inbox[stored.id] = stored
        self.inbox.add(stored.visible_at, stored.id)
        return True

    def consume(self, instance: Instance, message_ids: Iterable[int]) -> None:
        """Delete these messages from ``instance``'s inbox (those still there)."""
        for message_id in message_ids:
            consumed = instance.inbox.pop(message_id, None)
            if consumed is not None:
                del self.messages[consumed.id]
                self.inbox.remove(consumed.visible_at, consumed.id)

    def delete(self, instance_id: str) -> None:
        """Delete an instance with its inbox and activity work."""
        instance = self.instances.pop(instance_id)
        for message in instance.inbox.values():
            del self.messages[message.id]
            self.inbox.remove(message.visible_at, message.id)
        for activity_id in instance.activities:
            activity = self.activities.pop(activity_id)
            self.activity_queue.remove(activity.visible_at, activity_id)

    def add_activity(self, task: ActivityTask) -> Activity:
        """Queue an activity request."""
        activity = Activity(id=next(self.ids), task=task, visible_at=to_micros(task.visible_at))
        self.activities[activity.id] = activity
        self.activity_queue.add(activity.visible_at, activity.id)
        owner = self.instances.get(task.instance_id)
        if owner is not None:
            owner.activities.add(activity.id)
        return activity

    def claim_activity(self, activity: Activity, claim: ActivityClaim) -> ActivityWorkItem:
        """Lock a new request for the worker whose commit claimed it (a first hand-out)."""
        activity.dequeue_count = 0
        expires = to_micros(claim.expires)
        return self.lock_activity(activity, claim.owner, claim.lock_token, expires)

    def lock_activity(
        self, activity: Activity, owner: str, token: str, expires: int
    ) -> ActivityWorkItem:
        """Lease a request to ``owner``, counting the hand-out."""
        # A locked request is re-queued at its lease expiry: the visible prefix of the
        # queue then holds exactly the requests that are free or whose lease ran out.
        self.move_activity(activity, expires)
        activity.lock = Lock(owner=owner, token=token, expires=expires)
        activity.dequeue_count += 1
        task = activity.task
        return ActivityWorkItem(
            message_id=activity.id,
            instance_id=task.instance_id,
            execution_id=task.execution_id,
            task_id=task.task_id,
            name=task.name,
            input=task.input,
            lock_token=token,
            dequeue_count=activity.dequeue_count,
            trace_context=task.trace_context,
        )

    def move_activity(self, activity: Activity, visible_at: int) -> None:
        """Make a request visible at ``visible_at`` instead."""
        self.activity_queue.remove(activity.visible_at, activity.id)
        activity.visible_at = visible_at
        self.activity_queue.add(visible_at, activity.id)

    def remove_activity(self, activity: Activity) -> None:
        """Delete a request."""
        del self.activities[activity.id]
        self.activity_queue.remove(activity.visible_at, activity.id)
        owner = self.instances.get(activity.task.instance_id)
        if owner is not None:
            owner.activities.discard(activity.id)


NAMED: dict[tuple[str, str], Store] = {}
NAMED_LOCK = threading.Lock()


def named_store(name: str, task_hub: str) -> Store:
    """The process-wide store called ``name`` for ``task_hub`` (created on first use)."""
    with NAMED_LOCK:
        return NAMED.setdefault((name, task_hub), Store())


def check_json(events: Iterable[HistoryEvent]) -> None:
    """Refuse events the SQL stores could not encode, so that a batch fails before
    anything changed. Checking field types accepts exactly what
    ``HistoryEvent.to_json()`` encodes, for much less than encoding."""
    for event in events:
        for name in _field_names(type(event)):
            value = getattr(event, name)
            if not isinstance(value, _ENCODABLE):
                raise TypeError(
                    f"{event.event_type}.{name} is not JSON-serialisable: {type(value).__name__}"
                )


def _field_names(kind: type[HistoryEvent]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def commit_events(commit: OrchestrationCommit) -> Iterator[HistoryEvent]:
    """Every event a commit writes (history and messages), for :func:`check_json`."""
    yield from commit.new_events
    for message in commit.messages:
        yield message.event
    for new in commit.new_instances:
        yield new.start_event
        if new.on_conflict is not None:
            yield new.on_conflict.event


def sort_key(record: InstanceRecord) -> tuple[int, str]:
    """The listing order: (created time, instance id)."""
    return to_micros(record.created_time), record.instance_id


def matches(record: InstanceRecord, query: InstanceQuery) -> bool:
    """Whether ``record`` passes the filters of ``query``."""
    created = record.created_time
    return (
        (query.runtime_status is None or record.runtime_status in query.runtime_status)
        and (query.name is None or record.name == query.name)
        and (
            query.instance_id_prefix is None
            or record.instance_id.startswith(query.instance_id_prefix)
        )
        and (query.created_time_from is None or created >= utc(query.created_time_from))
        and (query.created_time_to is None or created <= utc(query.created_time_to))
    )
