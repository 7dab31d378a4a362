"""The data structures behind :class:`~durably.backends.memory.MemoryBackend`."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from durably.backends._notify import Notifier
from durably.backends.base import ActivityTask, InstanceRecord
from durably.history import HistoryEvent


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


NAMED: dict[tuple[str, str], Store] = {}
NAMED_LOCK = threading.Lock()


def named_store(name: str, task_hub: str) -> Store:
    """The process-wide store called ``name`` for ``task_hub`` (created on first use)."""
    with NAMED_LOCK:
        return NAMED.setdefault((name, task_hub), Store())
