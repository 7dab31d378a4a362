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

import contextlib
import dataclasses
import datetime as _dt
import enum
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Self
from urllib.parse import urlsplit

from durably.backends._codec import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    decode_token,
    encode_token,
    to_micros,
    utc,
)
from durably.backends._memory_store import Activity, Instance, Lock, Message, Store, named_store
from durably.backends.base import (
    ActivityClaim,
    ActivityResult,
    ActivityTask,
    ActivityWorkItem,
    BackendOptions,
    EpisodeBatch,
    EpisodeRunner,
    InboxMessage,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
    StatusWatch,
    WorkKind,
)
from durably.errors import (
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    StoreError,
)
from durably.history import FailureDetails, HistoryEvent

_ENCODABLE = (str, int, float, type(None), _dt.datetime, enum.Enum, FailureDetails)


_FIELD_NAMES: dict[type[HistoryEvent], tuple[str, ...]] = {}


def _field_names(kind: type[HistoryEvent]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def _check_json(events: Iterable[HistoryEvent]) -> None:
    # The SQL backends store events as JSON; refusing what they would refuse keeps this
    # twin honest and lets a batch fail before anything changed. Checking field types
    # accepts exactly what HistoryEvent.to_json() encodes, at a tenth of its cost.
    for event in events:
        for name in _field_names(type(event)):
            value = getattr(event, name)
            if not isinstance(value, _ENCODABLE):
                raise TypeError(
                    f"{event.event_type}.{name} is not JSON-serialisable: {type(value).__name__}"
                )


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
        _check_json([instance.start_event])
        with self._locked() as store:
            self._create(store, instance)
        self._notify("orchestration", instance.visible_at)

    def send_message(self, message: NewMessage) -> None:
        """Enqueue an event; raises ``InstanceNotFoundError`` for an unknown instance."""
        _check_json([message.event])
        with self._locked() as store:
            if not self._enqueue(store, message):
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

    def list_instances(self, query: InstanceQuery) -> InstancePage:
        """A page of instances ordered by (created_time, instance_id)."""
        if query.page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {query.page_size}")
        after = decode_token(query.continuation_token) if query.continuation_token else None
        with self._locked() as store:
            keyed = [(_sort_key(i.record), i.record) for i in store.instances.values()]
        rows = sorted(
            (row for row in keyed if _matches(row[1], query) and (after is None or row[0] > after)),
            key=lambda row: row[0],
        )
        page = rows[: query.page_size]
        more = len(rows) > query.page_size
        token = encode_token(*page[-1][0]) if more and page else None
        return InstancePage(instances=tuple(r for _, r in page), continuation_token=token)

    def purge_instance(self, instance_id: str) -> bool:
        """Delete a terminal instance; raises ``InvalidInstanceStateError`` for an active one."""
        with self._locked() as store:
            instance = store.instances.get(instance_id)
            if instance is None:
                return False
            status = instance.record.runtime_status
            if status not in TERMINAL_STATUSES:
                raise InvalidInstanceStateError(instance_id, status, "purge")
            self._delete(store, instance_id)
        self._notify("status")
        return True

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete every terminal instance matching ``query`` (paging ignored)."""
        with self._locked() as store:
            doomed = [
                i.record.instance_id
                for i in store.instances.values()
                if i.record.runtime_status in TERMINAL_STATUSES and _matches(i.record, query)
            ]
            for instance_id in doomed:
                self._delete(store, instance_id)
        if doomed:
            self._notify("status")
        return len(doomed)

    # -- orchestration work ------------------------------------------------------
    def lock_next_orchestrations(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[OrchestrationWorkItem]:
        """Lock up to ``limit`` instances with visible messages, oldest message first."""
        now_us, expires = to_micros(now), to_micros(now + lease)
        with self._locked() as store:
            picked: dict[str, Instance] = {}
            for message_id in store.inbox.visible(now_us):
                instance_id = store.messages[message_id].instance_id
                instance = store.instances[instance_id]
                if instance_id in picked or not instance.lock.is_free(now_us):
                    continue
                picked[instance_id] = instance
                if len(picked) >= limit:
                    break
            return [_lock_instance(i, owner, now_us, expires) for i in picked.values()]

    def lock_instances(
        self,
        instance_ids: Sequence[str],
        *,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
    ) -> list[OrchestrationWorkItem]:
        """Lock those of the named instances whose lock is free or expired."""
        now_us, expires = to_micros(now), to_micros(now + lease)
        with self._locked() as store:
            found = (store.instances.get(i) for i in dict.fromkeys(instance_ids))
            free = [i for i in found if i is not None and i.lock.is_free(now_us)]
            return [_lock_instance(i, owner, now_us, expires) for i in free]

    def run_episodes(
        self,
        runner: EpisodeRunner,
        *,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
        limit: int,
        instance_ids: Sequence[str] | None = None,
        create: NewInstance | None = None,
    ) -> EpisodeBatch:
        """Lock, run the episodes (outside the store lock), commit; see the protocol."""
        named = list(instance_ids or ())
        if create is not None:
            self.create_instance(create)
            named.append(create.instance_id)
        items = self.lock_instances(named, owner=owner, now=now, lease=lease)
        if limit > 0:
            items += self.lock_next_orchestrations(owner=owner, now=now, lease=lease, limit=limit)
        if not items:
            return EpisodeBatch()
        try:
            commits = runner(items)
        except BaseException:
            for item in items:
                self.abandon_orchestration(item)
            raise
        claimed: list[ActivityWorkItem] = []
        lost = self._commit(commits, claimed)
        return EpisodeBatch(items=tuple(items), lost=frozenset(lost), claimed=tuple(claimed))

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Create ``new`` as its first episode's ``commit`` leaves it if the id is free;
        None, changing nothing, if not (see the protocol)."""
        _check_json(_commit_events(commit))
        claimed: list[ActivityWorkItem] = []
        with self._locked() as store:
            if new.instance_id in store.instances:
                return None
            record = new.pending_record(utc(new.created_time))
            store.instances[new.instance_id] = Instance(record=record)
            self._apply(store, commit, claimed, locked=False)
            finished = store.instances[new.instance_id].record
        self._tell_watches([finished] if _finishes(commit) else [])
        self._notify_commits([commit], claiming=True)
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed))

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Apply ``commit`` to an unlocked instance if it is still as the work item
        shows it; None, changing nothing, if not (see the protocol)."""
        _check_json(_commit_events(commit))
        seen = commit.work_item.instance
        now_us = to_micros(now)
        claimed: list[ActivityWorkItem] = []
        with self._locked() as store:
            instance = store.instances.get(seen.instance_id)
            if instance is None or not _unchanged(instance, seen, now_us):
                return None
            self._apply(store, commit, claimed, locked=False)
            record = instance.record
        self._tell_watches([record] if _finishes(commit) else [])
        self._notify_commits([commit], claiming=True)
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed))

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        """Apply every commit whose lock token still matches; the others' ids are returned."""
        return self._commit(commits, None)

    def _commit(
        self, commits: Sequence[OrchestrationCommit], claimed: list[ActivityWorkItem] | None
    ) -> list[str]:
        for commit in commits:
            _check_json(_commit_events(commit))
        lost: list[str] = []
        finished: list[InstanceRecord] = []
        with self._locked() as store:
            for commit in commits:
                instance_id = commit.work_item.instance.instance_id
                if not self._apply(store, commit, claimed):
                    lost.append(instance_id)
                elif _finishes(commit):
                    finished.append(store.instances[instance_id].record)
        self._tell_watches(finished)
        self._notify_commits(commits, claiming=claimed is not None)
        return lost

    def _tell_watches(self, finished: Iterable[InstanceRecord]) -> None:
        notifier = self._store.notifier
        for record in finished:
            if notifier.watched(record.instance_id):
                notifier.finished(record)

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        """Release the lock without consuming anything (no-op if the lock was lost)."""
        with self._locked() as store:
            instance = store.instances.get(work_item.instance.instance_id)
            if instance is not None and instance.lock.token == work_item.lock_token:
                instance.lock = Lock()
        self._notify("orchestration")

    def renew_orchestration_locks(
        self, work_items: Sequence[OrchestrationWorkItem], *, until: _dt.datetime
    ) -> list[str]:
        """Extend the leases; returns the instance ids whose lock was lost."""
        lost: list[str] = []
        with self._locked() as store:
            for item in work_items:
                instance = store.instances.get(item.instance.instance_id)
                if instance is None or instance.lock.token != item.lock_token:
                    lost.append(item.instance.instance_id)
                else:
                    instance.lock.expires = to_micros(until)
        return lost

    # -- activity work -----------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        """Lock up to ``limit`` visible activity requests, oldest first."""
        now_us, expires = to_micros(now), to_micros(now + lease)
        with self._locked() as store:
            ids = list(itertools.islice(store.activity_queue.visible(now_us), limit))
            return [self._lock_activity(store, i, owner, expires) for i in ids]

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        """Delete each request and deliver its result; returns ids whose lock was lost."""
        _check_json(r.event for r in results)
        lost: list[int] = []
        with self._locked() as store:
            for result in results:
                item = result.work_item
                activity = store.activities.get(item.message_id)
                if activity is None or activity.lock.token != item.lock_token:
                    lost.append(item.message_id)
                    continue
                self._remove_activity(store, activity)
                message = NewMessage(
                    instance_id=item.instance_id,
                    event=result.event,
                    visible_at=result.visible_at,
                    execution_id=item.execution_id,
                )
                self._enqueue(store, message)
        for result in results:
            self._notify("orchestration", result.visible_at)
        return lost

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        """Release the lock; the request is visible again at ``visible_at``."""
        with self._locked() as store:
            activity = store.activities.get(work_item.message_id)
            if activity is None or activity.lock.token != work_item.lock_token:
                return
            self._move_activity(store, activity, to_micros(visible_at))
            activity.lock = Lock()
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
                self._move_activity(store, activity, to_micros(until))
                activity.lock.expires = to_micros(until)
        return lost

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

    def _create(self, store: Store, new: NewInstance) -> None:
        existing = store.instances.get(new.instance_id)
        if existing is not None:
            status = existing.record.runtime_status
            if status in ACTIVE_STATUSES:
                raise InstanceExistsError(new.instance_id, status)
            self._delete(store, new.instance_id)
        record = new.pending_record(utc(new.created_time))
        store.instances[new.instance_id] = Instance(record=record)
        start = NewMessage(
            instance_id=new.instance_id,
            event=new.start_event,
            visible_at=new.visible_at,
            execution_id=new.execution_id,
        )
        self._enqueue(store, start)

    def _enqueue(self, store: Store, message: NewMessage) -> bool:
        instance = store.instances.get(message.instance_id)
        if instance is None:
            return False
        stored = Message(
            id=next(store.ids),
            instance_id=message.instance_id,
            execution_id=message.execution_id,
            visible_at=to_micros(message.visible_at),
            event=message.event,
        )
        store.messages[stored.id] = stored
        instance.inbox[stored.id] = stored
        store.inbox.add(stored.visible_at, stored.id)
        return True

    def _delete(self, store: Store, instance_id: str) -> None:
        instance = store.instances.pop(instance_id)
        for message in instance.inbox.values():
            del store.messages[message.id]
            store.inbox.remove(message.visible_at, message.id)
        for activity_id in instance.activities:
            activity = store.activities.pop(activity_id)
            store.activity_queue.remove(activity.visible_at, activity_id)

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
        if instance is None or (locked and instance.lock.token != item.lock_token):
            return False
        for consumed_id in (m.message_id for m in item.messages):
            consumed = instance.inbox.pop(consumed_id, None)
            if consumed is not None:
                del store.messages[consumed.id]
                store.inbox.remove(consumed.visible_at, consumed.id)
        if commit.reset_history:
            instance.history.clear()
        instance.history.extend(commit.new_events)
        instance.record = _updated_record(instance, commit)
        instance.lock = Lock()
        for new in commit.new_instances:
            try:
                self._create(store, new)
            except InstanceExistsError:
                if new.on_conflict is not None:
                    self._enqueue(store, new.on_conflict)
        for activity_id in commit.completed_activities:
            done = store.activities.get(activity_id)
            if done is not None:
                self._remove_activity(store, done)
        claim = commit.claim
        for n, task in enumerate(commit.activities):
            activity = self._add_activity(store, task)
            if claim is not None and claimed is not None and n < claim.count:
                claimed.append(self._claim_activity(store, activity, claim))
        for message in commit.messages:
            self._enqueue(store, message)
        return True

    def _add_activity(self, store: Store, task: ActivityTask) -> Activity:
        activity = Activity(id=next(store.ids), task=task, visible_at=to_micros(task.visible_at))
        store.activities[activity.id] = activity
        store.activity_queue.add(activity.visible_at, activity.id)
        owner = store.instances.get(task.instance_id)
        if owner is not None:
            owner.activities.add(activity.id)
        return activity

    def _claim_activity(
        self, store: Store, activity: Activity, claim: ActivityClaim
    ) -> ActivityWorkItem:
        activity.dequeue_count = 0  # _lock counts this hand-out as the first
        return self._lock(store, activity, claim.owner, claim.lock_token, to_micros(claim.expires))

    def _lock_activity(
        self, store: Store, activity_id: int, owner: str, expires: int
    ) -> ActivityWorkItem:
        activity = store.activities[activity_id]
        return self._lock(store, activity, owner, uuid.uuid4().hex, expires)

    def _lock(
        self, store: Store, activity: Activity, owner: str, token: str, expires: int
    ) -> ActivityWorkItem:
        # A locked request is re-queued at its lease expiry: the visible prefix of the
        # queue then holds exactly the requests that are free or whose lease ran out.
        self._move_activity(store, activity, expires)
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
        )

    def _move_activity(self, store: Store, activity: Activity, visible_at: int) -> None:
        store.activity_queue.remove(activity.visible_at, activity.id)
        activity.visible_at = visible_at
        store.activity_queue.add(visible_at, activity.id)

    def _remove_activity(self, store: Store, activity: Activity) -> None:
        del store.activities[activity.id]
        store.activity_queue.remove(activity.visible_at, activity.id)
        owner = store.instances.get(activity.task.instance_id)
        if owner is not None:
            owner.activities.discard(activity.id)

    def _notify(self, kind: WorkKind, visible_at: _dt.datetime | None = None) -> None:
        self._store.notifier.notify(kind, visible_at=visible_at)

    def _notify_commits(self, commits: Sequence[OrchestrationCommit], *, claiming: bool) -> None:
        # Always wake orchestration waiters: releasing a lock can expose messages that
        # arrived while the instance was locked.
        self._notify("status")
        self._notify("orchestration")
        for commit in commits:
            for message in commit.messages:
                self._notify("orchestration", message.visible_at)
            for new in commit.new_instances:
                self._notify("orchestration", new.visible_at)
            claimed = commit.claim.count if claiming and commit.claim is not None else 0
            for task in commit.activities[claimed:]:
                self._notify("activity", task.visible_at)


def _lock_instance(instance: Instance, owner: str, now: int, expires: int) -> OrchestrationWorkItem:
    token = uuid.uuid4().hex
    instance.lock = Lock(owner=owner, token=token, expires=expires)
    messages = tuple(
        InboxMessage(message_id=m.id, event=m.event, execution_id=m.execution_id)
        for m in instance.inbox.values()
        if m.visible_at <= now
    )
    return OrchestrationWorkItem(instance=instance.record, messages=messages, lock_token=token)


def _finishes(commit: OrchestrationCommit) -> bool:
    """Whether ``commit`` brings its instance to a terminal status."""
    status = commit.runtime_status
    return status.is_terminal and status is not commit.work_item.instance.runtime_status


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


def _commit_events(commit: OrchestrationCommit) -> Iterator[HistoryEvent]:
    yield from commit.new_events
    for message in commit.messages:
        yield message.event
    for new in commit.new_instances:
        yield new.start_event
        if new.on_conflict is not None:
            yield new.on_conflict.event


def _sort_key(record: InstanceRecord) -> tuple[int, str]:
    return to_micros(record.created_time), record.instance_id


def _matches(record: InstanceRecord, query: InstanceQuery) -> bool:
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
