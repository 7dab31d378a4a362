"""The orchestration dispatcher: lock instances, run their episodes, commit them in one go.

``run_once(now)`` does exactly one iteration, so tests drive it without threads. Live
executors are kept between episodes (:mod:`durably.worker.cache`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Container, Sequence
from typing import Any

from durably import logs
from durably.app import App
from durably.backends.base import (
    ActivityWorkItem,
    EpisodeBatch,
    FastBackend,
    InboxMessage,
    NewInstance,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.engine.context import OrchestrationContext
from durably.engine.replay import OrchestrationExecutor
from durably.entities.ids import is_entity
from durably.errors import (
    InstanceExistsError,
    NonDeterministicOrchestrationError,
    PoisonWorkError,
    StoreError,
    VersionMismatchError,
)
from durably.history import OrchestrationRuntimeStatus, TaskCompleted, TaskFailed
from durably.versions import InstanceFilter
from durably.worker import observe
from durably.worker.cache import ExecutorCache
from durably.worker.claims import ActivityHandOff, Claims
from durably.worker.entities import entity_commit, poisoned
from durably.worker.episode import ClaimActivities, build_commit, consume_only, hand_back
from durably.worker.management import rewind_commit, rewind_requested, terminate_children
from durably.worker.reporting import fields_of, log_committed
from durably.worker.unknown import UnknownOrchestrators

log = logging.getLogger("durably.worker")
Status = OrchestrationRuntimeStatus
Result = tuple[ActivityWorkItem, TaskCompleted | TaskFailed]


class OrchestrationDispatcher:
    """Runs orchestration episodes for one worker."""

    def __init__(
        self,
        app: App,
        backend: FastBackend,
        *,
        owner: str,
        lease: _dt.timedelta = _dt.timedelta(seconds=60),
        batch_size: int = 64,
        cache_size: int = 1024,
        cache_idle: _dt.timedelta = _dt.timedelta(minutes=5),
        hand_off: ActivityHandOff | None = None,
        unlocked_commits: bool = True,
        max_dequeue_count: int = 5,
        versions: InstanceFilter | None = None,
        reject: bool = True,
        known_only: bool = False,
    ) -> None:
        self._app = app
        # The versions this worker takes; the others are left to other workers (the
        # store does not offer them: reject) or failed (not reject). With known_only,
        # the store offers only instances of orchestrators the app has.
        self._versions = versions
        self._reject = reject
        self._known_only = known_only
        self._only = InstanceFilter.taken_by(
            versions if reject else None, _taken_names(app) if known_only else None
        )
        self._unlocked = unlocked_commits
        self._max_dequeue_count = max_dequeue_count
        self._backend = backend
        self._owner = owner
        self._lease = lease
        self._batch_size = batch_size
        self._hand_off = hand_off
        self._cache = ExecutorCache(cache_size, cache_idle)
        # The orchestration loop and the activity-result loop both run episodes; this
        # lock serialises their use of the cache (never held while waiting for the store
        # outside a batch's transaction). Batches lock disjoint instances, and a cached
        # executor is only used when its history length still matches, so the order in
        # which two batches update the cache never changes a result.
        self._running = threading.Lock()
        self._unknown = UnknownOrchestrators(
            app,
            backend,
            owner=owner,
            lease=lease,
            fail=self._failed,
            committed=log_committed,
        )

    @property
    def cached_instances(self) -> int:
        return len(self._cache)

    def sweep_unknown(self, now: _dt.datetime, grace: _dt.timedelta, after: _dt.timedelta) -> int:
        """Note and fail the waiting instances of orchestrators this app lacks (see
        :meth:`UnknownOrchestrators.sweep`); how many failed."""
        return self._unknown.sweep(now, grace, after)

    def sweep_cache(self, now: _dt.datetime) -> None:
        """Drop the cached executors idle past ``cache_idle``. Each commit does it too; a
        worker with nothing to commit calls this, so that it does not keep the generators
        of instances that other workers continued and finished."""
        with self._running:
            self._cache.sweep(now)

    def run_once(self, now: _dt.datetime) -> int:
        """Lock a batch of instances, run one episode each, commit; the batch size."""
        return len(self._run(now, (), {}).items)

    def run_with_results(
        self,
        now: _dt.datetime,
        results: Sequence[Result],
        *,
        alone: bool = False,
        leased: Container[int] = (),
    ) -> list[Result]:
        """Apply activity results in episodes run right away, skipping the inbox.

        Each result's instance is locked and its episode runs with the inbox messages
        plus the result; the commit deletes the activity work. One durable commit per
        step instead of two. Returns the results whose instance was busy, or whose lock
        (the instance's, or the activity's lease) was lost: deliver those through the
        inbox.

        ``alone``: nothing else is under way in this worker, so there is no other work
        to share the commit with. A single result whose instance is cached is then
        applied to the cached state without locking first
        (:meth:`FastPaths.commit_if_unchanged`): no reads before the episode.

        ``leased``: the message ids of activities whose lease is certainly still this
        worker's (taken or renewed less than a lease ago, with a margin for clock skew).
        The store checks the lease of every other one before applying its result.
        """
        if (
            alone
            and len(results) == 1
            and results[0][0].message_id in leased
            and self._unlocked
            and self._step_unlocked(now, results[0])
        ):
            return []
        direct: dict[str, list[Result]] = {}
        for result in results:
            direct.setdefault(result[0].instance_id, []).append(result)
        # The same transaction also takes instances with new messages, up to the batch
        # size: one commit instead of one here and one in the orchestration loop.
        batch = self._run(now, list(direct), direct, leased=leased)
        done = {item.instance.instance_id for item in batch.items} - batch.lost
        return [r for r in results if r[0].instance_id not in done]

    def _step_unlocked(self, now: _dt.datetime, result: Result) -> bool:
        """Apply one result to its instance's cached state and commit if the instance
        is unchanged; False when there is no such state or the store refused (nothing
        written; the cache entry, now past the result, is dropped for a replay)."""
        activity, event = result
        instance_id = activity.instance_id
        claims = Claims(self._owner, now, self._hand_off)
        with self._running:
            cached = self._cache.peek(instance_id)
            if cached is None or cached.record.execution_id != activity.execution_id:
                return False
            due = cached.executor.next_timer
            if due is not None and due <= now:
                return False  # its TimerFired message waits: the store would refuse
            self._cache.take(instance_id)
            item = OrchestrationWorkItem(instance=cached.record, messages=(), lock_token=None)
            started = time.perf_counter()
            episode = cached.executor.execute([event], now)
            observer = observe.current()
            if observer is not None:
                observer.episode_done(cached.record.name, time.perf_counter() - started)
            commit = build_commit(
                item,
                episode,
                parent=cached.executor.parent,
                now=now,
                completed_activities=(activity.message_id,),
                claim=claims.take,
                version=self._app.version,
                started=cached.executor.started,
            )
        write = functools.partial(self._backend.commit_if_unchanged, commit, now=now)
        return self._write_alone(commit, cached.executor, claims, write)

    def start(self, new: NewInstance, *, fresh_id: bool = False) -> None:
        """Create ``new`` and run its first episode in the same commit (a local start).

        Raises ``InstanceExistsError`` as :meth:`Backend.create_instance` does.
        ``fresh_id``: the id was just generated, so no instance has it: the episode runs
        first and its commit creates the instance as the episode leaves it
        (:meth:`FastPaths.create_and_commit`), with no start message written and read.
        """
        try:
            if not (self._unlocked and fresh_id and self._start_unwritten(new)):
                self._run(new.visible_at, [], {}, create=new)
        except (StoreError, InstanceExistsError):
            raise
        except Exception:  # the first episode could not be saved: the loop will fail it
            log.warning(
                "the first episode of %s could not be saved here",
                new.instance_id,
                extra=logs.fields(new.instance_id, new.execution_id, new.name),
            )
            existing = self._backend.get_instance(new.instance_id)
            if existing is None or existing.execution_id != new.execution_id:
                self._backend.create_instance(new)  # (a store may have kept it created)

    def _start_unwritten(self, new: NewInstance) -> bool:
        """The first episode of ``new``, then the commit that creates it; False (nothing
        written, the episode forgotten) if the id turned out to be taken."""
        now = new.visible_at
        claims = Claims(self._owner, now, self._hand_off)
        start = InboxMessage(message_id=0, event=new.start_event, execution_id=new.execution_id)
        record = new.pending_record()
        item = OrchestrationWorkItem(instance=record, messages=(start,), lock_token=None)
        with self._running:
            commit, executor = self._process(item, now, (), claims.take)
        write = functools.partial(self._backend.create_and_commit, new, commit)
        return self._write_alone(commit, executor, claims, write)

    def _write_alone(
        self,
        commit: OrchestrationCommit,
        executor: OrchestrationExecutor | None,
        claims: Claims,
        write: Callable[[], EpisodeBatch | None],
    ) -> bool:
        """Write one commit made without a lock; False if the store refused it."""
        try:
            batch = write()
        except Exception:
            claims.settle(())
            raise
        claims.settle(batch.claimed if batch is not None else ())
        if batch is None:
            return False
        log_committed(commit, executor)
        if executor is not None and not executor.is_done:
            with self._running:
                self._cache.remember(commit, executor)
        return True

    def _run(
        self,
        now: _dt.datetime,
        instance_ids: Sequence[str],
        direct: dict[str, list[Result]],
        create: NewInstance | None = None,
        limit: int | None = None,
        leased: Container[int] = (),
    ) -> EpisodeBatch:
        """Run one batch: the named instances (or ``create``), and up to ``limit`` others
        with new messages (default: the batch size's rest; none with ``create``). The
        leases of the activities of ``direct`` not in ``leased`` are checked first."""
        if limit is None:
            limit = 0 if create else self._batch_size - len(instance_ids)
        prepared: list[tuple[OrchestrationCommit, OrchestrationExecutor | None]] = []
        claims = Claims(self._owner, now, self._hand_off)

        def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
            with self._running:
                prepared.clear()
                for item in items:
                    results = direct.get(item.instance.instance_id, ())
                    prepared.append(self._process(item, now, results, claims.take))
                return [commit for commit, _ in prepared]

        try:
            batch = self._backend.run_episodes(
                runner,
                owner=self._owner,
                now=now,
                lease=self._lease,
                limit=limit,
                instance_ids=instance_ids,
                create=create,
                # Results of leases lost meanwhile are not applied here (the inbox drops them).
                activities=[
                    activity
                    for results in direct.values()
                    for activity, _ in results
                    if activity.message_id not in leased
                ],
                only=self._only,
            )
        except Exception as exc:
            with self._running:
                for commit, _ in prepared:
                    self._cache.take(commit.work_item.instance.instance_id)
            claims.settle(())
            if isinstance(exc, StoreError) or not prepared or create is not None:
                # The store failed, nothing ran, or a start (its caller decides): the batch
                # waits and runs again.
                raise
            items = [commit.work_item for commit, _ in prepared]
            return self._isolate(now, items, direct, exc, leased)
        claims.settle(batch.claimed)
        with self._running:
            for commit, executor in prepared:
                instance_id = commit.work_item.instance.instance_id
                if instance_id in batch.lost:
                    log.warning(
                        "lost the lock on %s; another worker took over",
                        instance_id,
                        extra=fields_of(commit.work_item),
                    )
                    continue
                log_committed(commit, executor)
                if executor is not None and not executor.is_done:
                    self._cache.remember(commit, executor)
        return batch

    def _isolate(
        self,
        now: _dt.datetime,
        items: Sequence[OrchestrationWorkItem],
        direct: dict[str, list[Result]],
        error: Exception,
        leased: Container[int],
    ) -> EpisodeBatch:
        """A batch that could not be saved, for a reason of its own rather than the
        store's: run its instances again one by one, so that the one to blame fails
        alone (with ``error``) and the others go on."""
        if len(items) > 1:
            ran: list[OrchestrationWorkItem] = []
            for item in items:
                instance_id = item.instance.instance_id
                alone = {instance_id: direct[instance_id]} if instance_id in direct else {}
                ran += self._run(now, [instance_id], alone, limit=0, leased=leased).items
            return EpisodeBatch(items=tuple(ran))
        instance_id = items[0].instance.instance_id
        extra = fields_of(items[0])
        log.error(
            "the episode of %s could not be saved; failing it: %r", instance_id, error, extra=extra
        )

        def runner(held: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
            with self._running:
                return [self._failed(item, now, error) for item in held]

        try:
            self._backend.run_episodes(
                runner,
                owner=self._owner,
                now=now,
                lease=self._lease,
                limit=0,
                instance_ids=[instance_id],
            )
        except Exception:
            log.exception("could not fail %s either; it stays as it is", instance_id, extra=extra)
        return EpisodeBatch()

    def _failed(
        self, item: OrchestrationWorkItem, now: _dt.datetime, error: BaseException
    ) -> OrchestrationCommit:
        """The commit that fails the instance of ``item`` with ``error`` (a finished one
        only has its messages consumed)."""
        return self._failure(item, now, error)[0]

    def _failure(
        self, item: OrchestrationWorkItem, now: _dt.datetime, error: BaseException
    ) -> tuple[OrchestrationCommit, OrchestrationExecutor | None]:
        """:meth:`_failed`, with the executor that failed it (None if none ran)."""
        instance = item.instance
        if instance.runtime_status.is_terminal:
            return consume_only(item, now), None
        executor = self._new_executor(instance.name, instance.instance_id)
        try:  # to learn its parent, which is told of the failure
            if instance.history_length:
                executor.replay(self._backend.get_history(instance.instance_id))
        except Exception:
            log.warning(
                "could not replay %s to fail it",
                instance.instance_id,
                exc_info=True,
                extra=fields_of(item),
            )
        executor.fail(error)
        commit = build_commit(
            item,
            executor.execute([], now),
            parent=executor.parent,
            started=executor.started,
            now=now,
            version=self._app.version,
        )
        return commit, executor

    def _process(
        self,
        item: OrchestrationWorkItem,
        now: _dt.datetime,
        direct: Sequence[Result],
        claim: ClaimActivities | None,
    ) -> tuple[OrchestrationCommit, OrchestrationExecutor | None]:
        """Run one episode into its commit (its time told to the observer, if any)."""
        observer = observe.current()
        started = time.perf_counter() if observer is not None else 0.0
        done = tuple(activity.message_id for activity, _ in direct)
        try:
            commit, executor = self._episode(item, now, direct, done, claim)
        except StoreError:
            raise  # the store failed: the whole batch waits and runs again
        except Exception as exc:  # this instance's own failure: it fails, nothing else
            self._cache.take(item.instance.instance_id)
            commit, executor = self._failure(item, now, exc)
        if commit.completed_activities != done:  # the rare paths: rewind, terminate, ...
            commit = dataclasses.replace(commit, completed_activities=done)
        if observer is not None:
            observer.episode_done(item.instance.name, time.perf_counter() - started)
        return commit, executor

    def _episode(
        self,
        item: OrchestrationWorkItem,
        now: _dt.datetime,
        direct: Sequence[Result],
        done: tuple[int, ...],
        claim: ClaimActivities | None,
    ) -> tuple[OrchestrationCommit, OrchestrationExecutor | None]:
        instance = item.instance
        if is_entity(instance.instance_id):
            poison = poisoned(item, self._max_dequeue_count)
            return entity_commit(item, self._app, now, poison=poison), None
        if instance.runtime_status.is_terminal:
            request = rewind_requested(item)
            if request is None:
                return consume_only(item, now), None
            self._cache.take(instance.instance_id)
            executor = self._new_executor(instance.name, instance.instance_id)
            return rewind_commit(item, request, executor, self._backend, now), executor
        if self._known_only and instance.name not in self._app.orchestrators:
            return hand_back(item), None  # named by a path that does not filter
        if self._versions is not None and not self._versions.admits(instance):
            if self._reject:  # taken in a race with the commit that changed its version
                return hand_back(item), None
            raise VersionMismatchError(
                f"instance {instance.instance_id!r} is of version {instance.version!r}; this"
                f" worker (version {self._versions.version!r}) takes"
                f" {'only its own' if self._versions.strict else 'its own and older ones'}"
            )
        unreadable = [m.error for m in item.messages if m.error is not None]
        if unreadable:
            raise ValueError("; ".join(unreadable))  # fails this instance alone (_process)
        if item.dequeue_count > self._max_dequeue_count:
            raise PoisonWorkError(  # fails this instance alone, without running its code
                f"the episodes of {instance.instance_id!r} were delivered "
                f"{item.dequeue_count - 1} times without a commit: its worker died or hung "
                f"each time (max_dequeue_count={self._max_dequeue_count})"
            )
        current = (None, instance.execution_id)
        events = [m.event for m in item.messages if m.execution_id in current]
        events += [event for activity, event in direct if activity.execution_id in current]
        executor = self._executor_for(item)
        result = executor.execute(events, now)
        commit = build_commit(
            item,
            result,
            parent=executor.parent,
            now=now,
            completed_activities=done,
            claim=claim,
            version=self._app.version,
            started=executor.started,
        )
        if result.runtime_status is Status.Terminated:
            commit = terminate_children(commit, events, self._backend, now)
        return commit, executor

    def _executor_for(self, item: OrchestrationWorkItem) -> OrchestrationExecutor:
        instance = item.instance
        cached = self._cache.executor_for(instance)
        if cached is not None:
            return cached
        executor = self._new_executor(instance.name, instance.instance_id)
        try:
            if instance.history_length:  # a new instance has nothing to replay
                executor.replay(self._backend.get_history(instance.instance_id))
        except NonDeterministicOrchestrationError as exc:
            log.error("instance %s: %s", instance.instance_id, exc, extra=fields_of(item))
            executor.fail(exc)
        return executor

    def _new_executor(self, name: str, instance_id: str) -> OrchestrationExecutor:
        return OrchestrationExecutor(
            self._orchestrator(name),
            instance_id=instance_id,
            max_payload_bytes=self._app.max_payload_bytes,
            max_history_events=self._app.max_history_events,
            codec=self._app.codec,
        )

    def _orchestrator(self, name: str) -> Callable[[OrchestrationContext], Any]:
        function = self._app.orchestrators.get(name)
        if function is not None:
            return function
        error = self._app.unknown_orchestrator(name)

        def unknown(context: OrchestrationContext) -> Any:
            raise error

        return unknown


def _taken_names(app: App) -> frozenset[str]:
    """The instance names a worker of ``app`` takes: its orchestrators and its entities'
    rows (``@name``)."""
    return frozenset(app.orchestrators) | {f"@{name}" for name in app.entities}
