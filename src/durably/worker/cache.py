"""The live orchestrations a worker keeps between episodes (Durable Functions' extended
sessions): an executor is used again only if its instance is still as the worker's last
commit left it, so the cache never changes a result, it only skips the replay."""

from __future__ import annotations

import datetime as _dt
from collections import OrderedDict
from dataclasses import dataclass

from durably.backends.base import InstanceRecord, OrchestrationCommit
from durably.engine.replay import OrchestrationExecutor


@dataclass(slots=True)
class Cached:
    """A live executor and the instance as this worker's last commit left it."""

    executor: OrchestrationExecutor
    record: InstanceRecord
    last_used: _dt.datetime


class ExecutorCache:
    """At most ``size`` executors (0: none), each dropped after ``idle`` unused, least
    recently used first. Not thread-safe: the dispatcher serialises its use."""

    def __init__(self, size: int, idle: _dt.timedelta) -> None:
        self._size = size
        self._idle = idle
        self._entries: OrderedDict[str, Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, instance_id: str) -> Cached | None:
        """The entry of ``instance_id``, left in place."""
        return self._entries.get(instance_id)

    def take(self, instance_id: str) -> Cached | None:
        """Remove and return the entry of ``instance_id`` (the caller runs its episode)."""
        return self._entries.pop(instance_id, None)

    def executor_for(self, record: InstanceRecord) -> OrchestrationExecutor | None:
        """Take the executor of the instance ``record`` shows, if it is still the one
        cached (same execution, same history length); None otherwise."""
        cached = self._entries.pop(record.instance_id, None)
        if (
            cached is not None
            and cached.record.execution_id == record.execution_id
            and cached.record.history_length == record.history_length
        ):
            return cached.executor
        return None

    def remember(self, commit: OrchestrationCommit, executor: OrchestrationExecutor) -> None:
        """Keep ``executor`` as ``commit`` (just written) leaves its instance."""
        if self._size <= 0 or commit.reset_history:
            return
        now = commit.last_updated_time
        instance_id = commit.work_item.instance.instance_id
        self._entries[instance_id] = Cached(executor, commit.committed_record(), now)
        # Least recently used first: evict beyond the size bound, then whatever sat idle
        # too long (an instance waiting days for an event should not pin its generator).
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        self.sweep(now)

    def sweep(self, now: _dt.datetime) -> None:
        """Drop the executors unused for longer than ``idle``."""
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.last_used <= self._idle:
                break
            self._entries.popitem(last=False)
