"""MemoryBackend: the whole :class:`~durably.backends.base.Backend` protocol on dicts.

One lock guards one store, so every method is atomic, and a commit batch is applied
all-or-nothing because everything that could fail (JSON encoding) is checked before the
first change. It keeps the SQL backends' observable behaviour (timestamps come back as
UTC, payloads must be JSON-encodable, ``visible_at`` decides visibility), so tests that
pass here mean the same thing on SQLite and PostgreSQL.

``memory://`` opens a fresh store; ``memory://NAME`` shares a named store (per task hub)
with every other backend opened on that URL in the process.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as _dt
import itertools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Self
from urllib.parse import urlsplit

from durably.backends._codec import decode_token, encode_token, from_micros, to_micros, utc
from durably.backends._memory_store import (
    Instance,
    Lock,
    Store,
    check_json,
    commit_events,
    matches,
    named_store,
    sort_key,
)
from durably.backends.base import (
    ActivityResult,
    ActivityWorkItem,
    BackendOptions,
    EpisodeBatch,
    EpisodeRunner,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
    RecordPage,
    StatusWatch,
    StoreSummary,
    WorkKind,
)
from durably.backends.derived import Committed, run_episodes_in_steps
from durably.errors import (
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    StoreError,
)
from durably.history import (
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)
from durably.versions import InstanceFilter


class MemoryBackend:
    """A :class:`~durably.backends.base.Backend` in process memory.

    ``name`` shares the store with other backends opened with the same name and task
    hub; ``None`` gives a private store.
    """

    def __init__(self, name: str | None = None, *, task_hub: str = "default") -> None:
        self._store = named_store(name, task_hub) if name else Store()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, options: BackendOptions) -> Self:
        """Open ``memory://`` (a fresh store) or ``memory://NAME`` (a shared one)."""
        if options.extra:
            raise ValueError(f"unknown memory:// options: {', '.join(sorted(options.extra))}")
        parts = urlsplit(url)
        name = (parts.netloc + parts.path).strip("/")
        return cls(name or None, task_hub=options.task_hub)

    # -- client side -------------------------------------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending); raises ``InstanceExistsError`` if it is active."""
        check_json([instance.start_event])
        with self._locked() as store:
            store.create(instance)
        self._notify("orchestration", instance.visible_at)

    def send_message(self, message: NewMessage) -> None:
        """Enqueue an event; raises ``InstanceNotFoundError`` for an unknown instance."""
        check_json([message.event])
        with self._locked() as store:
            if not store.enqueue(message):
                raise InstanceNotFoundError(message.instance_id)
        self._notify("orchestration", message.visible_at)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance row, or ``None``."""
        with self._locked() as store:
            instance = store.instances.get(instance_id)
            return instance.record if instance else None

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The history in sequence order (empty for an unknown instance)."""
        with self._locked() as store:
            instance = store.instances.get(instance_id)
            return list(instance.history) if instance else []

    def list_instances(self, query: InstanceQuery) -> RecordPage:
        """A page of instances ordered by (created_time, instance_id)."""
        if query.page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {query.page_size}")
        after = decode_token(query.continuation_token) if query.continuation_token else None
        with self._locked() as store:
            keyed = [(sort_key(i.record), i.record) for i in store.instances.values()]
        rows = sorted(
            (row for row in keyed if matches(row[1], query) and (after is None or row[0] > after)),
            key=lambda row: row[0],
        )
        page = rows[: query.page_size]
        more = len(rows) > query.page_size
        token = encode_token(*page[-1][0]) if more and page else None
        return RecordPage(instances=tuple(r for _, r in page), continuation_token=token)

    def purge_instance(self, instance_id: str) -> bool:
        """Delete a terminal instance; raises ``InvalidInstanceStateError`` for an active one."""
        with self._locked() as store:
            instance = store.instances.get(instance_id)
            if instance is None:
                return False
            status = instance.record.runtime_status
            if status not in TERMINAL_STATUSES:
                raise InvalidInstanceStateError(instance_id, status, "purge")
            store.delete(instance_id)
        self._notify("status")
        return True

    def send_to_entity(self, row: NewInstance, message: NewMessage) -> None:
        """Deliver ``message`` to an entity, creating its row if it has none (at once)."""
        check_json([message.event])
        with self._locked() as store:
            if row.instance_id not in store.instances:
                store.create(row)
            store.enqueue(message)
        self._notify("orchestration", message.visible_at)

    def purge_entity(self, instance_id: str) -> bool:
        """Delete an entity that holds nothing (:class:`~durably.backends.base.
        EntityPurging`)."""
        with self._locked() as store:
            instance = store.instances.get(instance_id)
            record = instance.record if instance is not None else None
            if record is None or record.input is not None or record.custom_status is not None:
                return False
            if instance is None or instance.inbox:
                return False
            store.delete(instance_id)
        self._notify("status")
        return True

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete every terminal instance matching ``query`` (paging ignored)."""
        with self._locked() as store:
            doomed = [
                i.record.instance_id
                for i in store.instances.values()
                if i.record.runtime_status in TERMINAL_STATUSES and matches(i.record, query)
            ]
            for instance_id in doomed:
                store.delete(instance_id)
        if doomed:
            self._notify("status")
        return len(doomed)

    # -- orchestration work ------------------------------------------------------
    def lock_next_orchestrations(
        self,
        *,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
        limit: int,
        instance_ids: Sequence[str] = (),
        only: InstanceFilter | None = None,
    ) -> list[OrchestrationWorkItem]:
        """Lock the free named instances, then up to ``limit`` with visible messages."""
        now_us, expires = to_micros(now), to_micros(now + lease)
        with self._locked() as store:
            picked: dict[str, Instance] = {}
            for instance_id in instance_ids:
                instance = store.instances.get(instance_id)
                if instance is not None and instance.lock.is_free(now_us):
                    picked[instance_id] = instance
            wanted = len(picked) + limit
            for message_id in store.inbox.visible(now_us):
                if len(picked) >= wanted:
                    break
                instance_id = store.messages[message_id].instance_id
                instance = store.instances[instance_id]
                if (
                    instance_id not in picked
                    and instance.lock.is_free(now_us)
                    and (only is None or only.admits(instance.record))
                ):
                    picked[instance_id] = instance
            return [i.lock_for(owner, now_us, expires) for i in picked.values()]

    def run_episodes(
        self,
        runner: EpisodeRunner,
        *,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
        limit: int,
        instance_ids: Sequence[str] = (),
        create: NewInstance | None = None,
        activities: Sequence[ActivityWorkItem] = (),
        only: InstanceFilter | None = None,
    ) -> EpisodeBatch:
        """Lock, run the episodes (outside the store lock), commit honouring claims."""

        def commit(commits: Sequence[OrchestrationCommit]) -> Committed:
            claimed: list[ActivityWorkItem] = []
            return self._commit(commits, claimed), claimed

        return run_episodes_in_steps(
            self,
            runner,
            commit,
            owner=owner,
            now=now,
            lease=lease,
            limit=limit,
            instance_ids=instance_ids,
            create=create,
            activities=activities,
            only=only,
        )

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Create ``new`` as its first episode's ``commit`` leaves it if the id is free;
        None, changing nothing, if not (see the protocol)."""
        check_json(commit_events(commit))
        claimed: list[ActivityWorkItem] = []
        with self._locked() as store:
            if new.instance_id in store.instances:
                return None
            record = new.pending_record()
            store.instances[new.instance_id] = Instance(record=record)
            self._apply(store, commit, claimed, locked=False)
        self._committed([commit], claiming=True)
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed))

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Apply ``commit`` to an unlocked instance if it is still as the work item
        shows it; None, changing nothing, if not (see the protocol)."""
        check_json(commit_events(commit))
        seen = commit.work_item.instance
        now_us = to_micros(now)
        claimed: list[ActivityWorkItem] = []
        with self._locked() as store:
            instance = store.instances.get(seen.instance_id)
            if instance is None or not _unchanged(instance, seen, now_us):
                return None
            self._apply(store, commit, claimed, locked=False)
        self._committed([commit], claiming=True)
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed))

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        """Apply every commit whose lock token still matches; the others' ids are returned."""
        return self._commit(commits, None)

    def _commit(
        self, commits: Sequence[OrchestrationCommit], claimed: list[ActivityWorkItem] | None
    ) -> list[str]:
        for commit in commits:
            check_json(commit_events(commit))
        lost: list[str] = []
        applied: list[OrchestrationCommit] = []
        with self._locked() as store:
            for commit in commits:
                if self._apply(store, commit, claimed):
                    applied.append(commit)
                else:
                    lost.append(commit.work_item.instance.instance_id)
        self._committed(applied, claiming=claimed is not None)
        return lost

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        """Release the lock without consuming anything (no-op if the lock was lost)."""
        if work_item.lock_token is None:
            return
        with self._locked() as store:
            instance = store.instances.get(work_item.instance.instance_id)
            if instance is not None and instance.lock.token == work_item.lock_token:
                instance.lock = Lock()
                instance.dequeue_count = max(instance.dequeue_count - 1, 0)
        self._notify("orchestration")

    def summarize(self, now: _dt.datetime, minutes: int) -> StoreSummary:
        """The dashboard's summary (see :class:`~durably.backends.base.Summaries`)."""
        until = to_micros(now)
        since = until - minutes * 60_000_000
        counts: collections.Counter[OrchestrationRuntimeStatus] = collections.Counter()
        started, finished = [0] * minutes, [0] * minutes
        with self._locked() as store:
            records = [instance.record for instance in store.instances.values()]
            queues = {"orchestration": store.inbox, "activity": store.activity_queue}
            backlog = {kind: queue.due(until) for kind, queue in queues.items()}
            firsts = {kind: queue.first_due() for kind, queue in queues.items()}
        for record in records:
            counts[record.runtime_status] += 1
            created = (to_micros(record.created_time) - since) // 60_000_000
            if 0 <= created < minutes:
                started[created] += 1
            changed = (to_micros(record.last_updated_time) - since) // 60_000_000
            if record.runtime_status in TERMINAL_STATUSES and 0 <= changed < minutes:
                finished[changed] += 1
        oldest = {
            kind: from_micros(at) if at is not None and at <= until else None
            for kind, at in firsts.items()
        }
        waiting = [at for at in oldest.values() if at is not None]
        return StoreSummary(
            counts=dict(counts),
            started=tuple(started),
            finished=tuple(finished),
            oldest_waiting=min(waiting) if waiting else None,
            backlog=backlog,
            oldest=oldest,
        )

    def note_waiting(self, instance_id: str, reason: str) -> None:
        """Note why the instance's work waits, until its next commit (see the protocol)."""
        with self._locked() as store:
            instance = store.instances.get(instance_id)
            if instance is not None and instance.record.runtime_status in WORKING_STATUSES:
                instance.record = dataclasses.replace(instance.record, waiting=reason)

    # -- activity work -----------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        """Lock up to ``limit`` visible activity requests, oldest first."""
        now_us, expires = to_micros(now), to_micros(now + lease)
        with self._locked() as store:
            ids = list(itertools.islice(store.activity_queue.visible(now_us), limit))
            return [
                store.lock_activity(store.activities[i], owner, uuid.uuid4().hex, expires)
                for i in ids
            ]

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        """Delete each request and deliver its result; returns ids whose lock was lost."""
        check_json(r.event for r in results)
        lost: list[int] = []
        with self._locked() as store:
            for result in results:
                item = result.work_item
                activity = store.activities.get(item.message_id)
                if activity is None or activity.lock.token != item.lock_token:
                    lost.append(item.message_id)
                    continue
                store.remove_activity(activity)
                message = NewMessage(
                    instance_id=item.instance_id,
                    event=result.event,
                    visible_at=result.visible_at,
                    execution_id=item.execution_id,
                )
                store.enqueue(message)
        for result in results:
            self._notify("orchestration", result.visible_at)
        return lost

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        """Release the lock; the request is visible again at ``visible_at``."""
        with self._locked() as store:
            activity = store.activities.get(work_item.message_id)
            if activity is None or activity.lock.token != work_item.lock_token:
                return
            store.move_activity(activity, to_micros(visible_at))
            activity.lock = Lock()
            activity.dequeue_count = max(activity.dequeue_count - 1, 0)
        self._notify("activity", visible_at)

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        """Extend the leases; returns the message ids whose lock was lost."""
        lost: list[int] = []
        with self._locked() as store:
            for item in work_items:
                activity = store.activities.get(item.message_id)
                if activity is None or activity.lock.token != item.lock_token:
                    lost.append(item.message_id)
                    continue
                store.move_activity(activity, to_micros(until))
                activity.lock.expires = to_micros(until)
        return lost

    def next_visible_at(self, now: _dt.datetime) -> _dt.datetime | None:
        """When the first inbox message or activity request that is not visible at
        ``now`` becomes visible (a timer, a lease running out); None if none waits.
        The test harness moves its virtual time there when nothing can run."""
        now_us = to_micros(now)
        with self._locked() as store:
            later = [m.visible_at for m in store.messages.values() if m.visible_at > now_us]
            later += [a.visible_at for a in store.activities.values() if a.visible_at > now_us]
        return from_micros(min(later)) if later else None

    # -- wake-ups and lifecycle --------------------------------------------------
    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Block until work of ``kind`` may be available, or ``timeout`` seconds pass."""
        if not self._closed:
            self._store.notifier.wait(kind, timeout)

    def interrupt(self) -> None:
        """Wake every waiter now (a stopping worker)."""
        self._store.notifier.notify_all()

    def watch_status(self, instance_id: str) -> AbstractContextManager[StatusWatch]:
        """See :meth:`Backend.watch_status` (any object on this store fills it in)."""
        return self._store.notifier.watch(instance_id)

    def close(self) -> None:
        """Detach from the store (a named store lives on for its other users)."""
        self._closed = True
        self._store.notifier.notify_all()

    # -- internals (callers hold the store lock) ----------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[Store]:
        if self._closed:
            raise StoreError("the memory backend is closed")
        with self._store.lock:
            yield self._store

    def _apply(
        self,
        store: Store,
        commit: OrchestrationCommit,
        claimed: list[ActivityWorkItem] | None,
        *,
        locked: bool = True,
    ) -> bool:
        item = commit.work_item
        instance = store.instances.get(item.instance.instance_id)
        if instance is None or (
            locked and (item.lock_token is None or instance.lock.token != item.lock_token)
        ):
            return False
        store.consume(instance, [m.message_id for m in item.messages])
        if commit.reset_history:
            instance.history.clear()
        instance.history.extend(commit.new_events)
        instance.record = _updated_record(instance, commit)
        instance.lock = Lock()
        instance.dequeue_count = 0
        for new in commit.new_instances:
            try:
                store.create(new)
            except InstanceExistsError:
                if new.on_conflict is not None:
                    store.enqueue(new.on_conflict)
        for activity_id in commit.completed_activities:
            done = store.activities.get(activity_id)
            if done is not None:
                store.remove_activity(done)
        claim = commit.claim
        for n, task in enumerate(commit.activities):
            activity = store.add_activity(task)
            if claim is not None and claimed is not None and n < claim.count:
                claimed.append(store.claim_activity(activity, claim))
        for message in commit.messages:
            store.enqueue(message)
        return True

    def _notify(self, kind: WorkKind, visible_at: _dt.datetime | None = None) -> None:
        self._store.notifier.notify(kind, visible_at=visible_at)

    def _committed(self, commits: Sequence[OrchestrationCommit], *, claiming: bool) -> None:
        self._store.notifier.committed(commits, claiming=claiming)


def _unchanged(instance: Instance, seen: InstanceRecord, now: int) -> bool:
    """Whether ``instance`` is as ``seen``, with no live lease and no visible message."""
    record = instance.record
    return (
        record.execution_id == seen.execution_id
        and len(instance.history) == seen.history_length
        and record.runtime_status is seen.runtime_status
        and instance.lock.is_free(now)
        and not any(m.visible_at <= now for m in instance.inbox.values())
    )


def _updated_record(instance: Instance, commit: OrchestrationCommit) -> InstanceRecord:
    record = commit.committed_record()
    assert record.history_length == len(instance.history)
    return dataclasses.replace(record, last_updated_time=utc(commit.last_updated_time))
