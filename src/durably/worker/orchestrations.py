"""The orchestration dispatcher: lock instances, run their episodes, commit them in one go.

``run_once(now)`` does exactly one iteration, so tests drive it without threads. Live
executors are cached between episodes (like Durable Functions' extended sessions): a
cached executor is used only if the instance's history length and execution id are still
those it has seen, so the cache never changes a result, it only skips the replay.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from durably.app import App
from durably.backends.base import (
    ActivityWorkItem,
    Backend,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.engine.context import OrchestrationContext
from durably.engine.replay import OrchestrationExecutor
from durably.errors import NonDeterministicOrchestrationError, StoreError
from durably.history import OrchestrationRuntimeStatus, TaskCompleted, TaskFailed
from durably.worker.episode import build_commit, consume_only
from durably.worker.management import rewind_commit, rewind_requested, terminate_children

log = logging.getLogger("durably.worker")
Status = OrchestrationRuntimeStatus
Result = tuple[ActivityWorkItem, TaskCompleted | TaskFailed]


@dataclass(slots=True)
class _Cached:
    executor: OrchestrationExecutor
    execution_id: str
    history_length: int
    last_used: _dt.datetime


class OrchestrationDispatcher:
    """Runs orchestration episodes for one worker."""

    def __init__(
        self,
        app: App,
        backend: Backend,
        *,
        owner: str,
        lease: _dt.timedelta = _dt.timedelta(seconds=60),
        batch_size: int = 64,
        cache_size: int = 1024,
        cache_idle: _dt.timedelta = _dt.timedelta(minutes=5),
    ) -> None:
        self._app = app
        self._backend = backend
        self._owner = owner
        self._lease = lease
        self._batch_size = batch_size
        self._cache_size = cache_size
        self._cache_idle = cache_idle
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        # One batch at a time: the orchestration loop and the activity-result loop both
        # run episodes, and the cache is not shared between concurrent batches.
        self._running = threading.Lock()

    @property
    def cached_instances(self) -> int:
        return len(self._cache)

    def run_once(self, now: _dt.datetime) -> int:
        """Lock a batch of instances, run one episode each, commit; the batch size."""
        with self._running:
            items = self._backend.lock_next_orchestrations(
                owner=self._owner, now=now, lease=self._lease, limit=self._batch_size
            )
            if items:
                self._run(items, now, {})
            return len(items)

    def run_with_results(self, now: _dt.datetime, results: Sequence[Result]) -> list[Result]:
        """Apply activity results in episodes run right away, skipping the inbox.

        Each result's instance is locked and its episode runs with the inbox messages
        plus the result; the commit deletes the activity work. One durable commit per
        step instead of two. Returns the results whose instance was busy, or whose lock
        was lost: deliver those through the inbox.
        """
        direct: dict[str, list[Result]] = {}
        for result in results:
            direct.setdefault(result[0].instance_id, []).append(result)
        with self._running:
            items = self._backend.lock_instances(
                list(direct), owner=self._owner, now=now, lease=self._lease
            )
            lost = self._run(items, now, direct) if items else set()
        done = {item.instance.instance_id for item in items} - lost
        return [r for r in results if r[0].instance_id not in done]

    def _run(
        self, items: list[OrchestrationWorkItem], now: _dt.datetime, direct: dict[str, list[Result]]
    ) -> set[str]:
        try:
            prepared = [
                self._process(item, now, direct.get(item.instance.instance_id, ()))
                for item in items
            ]
            lost = set(self._backend.commit_orchestrations([commit for commit, _ in prepared]))
        except Exception as exc:
            for item in items:
                self._cache.pop(item.instance.instance_id, None)
            if isinstance(exc, StoreError):
                self._release(items)
            raise
        for commit, executor in prepared:
            instance_id = commit.work_item.instance.instance_id
            if instance_id in lost:
                log.warning("lost the lock on %s; another worker took over", instance_id)
            elif executor is not None and not executor.is_done:
                self._remember(instance_id, commit, executor)
        return lost

    def _release(self, items: list[OrchestrationWorkItem]) -> None:
        # The store failed (a dropped connection, say): hand the instances back now rather
        # than at lease expiry. Harmless if the commit did land: its token is gone, so
        # abandoning is a no-op. Other errors keep the lease, which paces retries.
        for item in items:
            try:
                self._backend.abandon_orchestration(item)
            except Exception:
                return  # the store is still away: the leases expire instead

    def _process(
        self, item: OrchestrationWorkItem, now: _dt.datetime, direct: Sequence[Result] = ()
    ) -> tuple[OrchestrationCommit, OrchestrationExecutor | None]:
        commit, executor = self._episode(item, now, direct)
        if direct:
            done = tuple(activity.message_id for activity, _ in direct)
            commit = dataclasses.replace(commit, completed_activities=done)
        return commit, executor

    def _episode(
        self, item: OrchestrationWorkItem, now: _dt.datetime, direct: Sequence[Result]
    ) -> tuple[OrchestrationCommit, OrchestrationExecutor | None]:
        instance = item.instance
        if instance.runtime_status.is_terminal:
            request = rewind_requested(item)
            if request is None:
                return consume_only(item, now), None
            self._cache.pop(instance.instance_id, None)
            executor = self._new_executor(instance.name, instance.instance_id)
            return rewind_commit(item, request, executor, self._backend, now), executor
        current = (None, instance.execution_id)
        events = [m.event for m in item.messages if m.execution_id in current]
        events += [event for activity, event in direct if activity.execution_id in current]
        executor = self._executor_for(item)
        result = executor.execute(events, now)
        commit = build_commit(item, result, parent=executor.parent, now=now)
        if result.runtime_status is Status.Terminated:
            commit = terminate_children(commit, events, self._backend, now)
        return commit, executor

    def _executor_for(self, item: OrchestrationWorkItem) -> OrchestrationExecutor:
        instance = item.instance
        cached = self._cache.pop(instance.instance_id, None)
        if (
            cached is not None
            and cached.execution_id == instance.execution_id
            and cached.history_length == instance.history_length
        ):
            return cached.executor
        executor = self._new_executor(instance.name, instance.instance_id)
        try:
            if instance.history_length:  # a new instance has nothing to replay
                executor.replay(self._backend.get_history(instance.instance_id))
        except NonDeterministicOrchestrationError as exc:
            log.error("instance %s: %s", instance.instance_id, exc)
            executor.fail(exc)
        return executor

    def _new_executor(self, name: str, instance_id: str) -> OrchestrationExecutor:
        return OrchestrationExecutor(self._orchestrator(name), instance_id=instance_id)

    def _orchestrator(self, name: str) -> Callable[[OrchestrationContext], Any]:
        function = self._app.orchestrators.get(name)
        if function is not None:
            return function
        error = self._app.unknown_orchestrator(name)

        def unknown(context: OrchestrationContext) -> Any:
            raise error

        return unknown

    def _remember(
        self, instance_id: str, commit: OrchestrationCommit, executor: OrchestrationExecutor
    ) -> None:
        if self._cache_size <= 0 or commit.reset_history:
            return
        length = commit.work_item.instance.history_length + len(commit.new_events)
        now = commit.last_updated_time
        self._cache[instance_id] = _Cached(executor, commit.execution_id, length, now)
        # Least recently used first: evict beyond the size bound, then whatever sat idle
        # too long (an instance waiting days for an event should not pin its generator).
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        while self._cache:
            oldest = next(iter(self._cache.values()))
            if now - oldest.last_used <= self._cache_idle:
                break
            self._cache.popitem(last=False)
