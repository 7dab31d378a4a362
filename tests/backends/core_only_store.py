"""A store written only against the core Backend protocol, as a third store would be.

Plain dicts under one lock, events kept as JSON text (as a database would keep them),
nothing from durably's own stores. It has no fast paths: the worker and the client use
the ones derived from its core (:func:`durably.backends.derived.with_fast_paths`).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from durably.backends.base import (
    ActivityResult,
    ActivityTask,
    ActivityWorkItem,
    InboxMessage,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
    RecordPage,
)
from durably.errors import InstanceExistsError, InstanceNotFoundError, InvalidInstanceStateError
from durably.history import ACTIVE_STATUSES, TERMINAL_STATUSES, WORKING_STATUSES, HistoryEvent
from durably.versions import InstanceFilter

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _us(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def _time(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


@dataclass
class _Message:
    instance_id: str
    execution_id: str | None
    visible: int
    event: str


@dataclass
class _Activity:
    task: ActivityTask
    visible: int
    token: str | None = None
    dequeue_count: int = 0


@dataclass
class _Instance:
    record: InstanceRecord
    history: list[str] = field(default_factory=list)
    token: str | None = None
    expires: int = 0
    deliveries: int = 0


@dataclass
class Data:
    """One task hub's data; every store object opened on it shares it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    instances: dict[str, _Instance] = field(default_factory=dict)
    inbox: dict[int, _Message] = field(default_factory=dict)
    activities: dict[int, _Activity] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class CoreOnlyStore:
    """The 16 methods of :class:`durably.backends.base.Backend`, and nothing else."""

    def __init__(self, data: Data) -> None:
        self._data = data

    # -- instances -------------------------------------------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        start = instance.start_event.to_json()
        with self._data.lock:
            self._create(instance, start)

    def send_message(self, message: NewMessage) -> None:
        event = message.event.to_json()
        with self._data.lock:
            if not self._enqueue(message, event):
                raise InstanceNotFoundError(message.instance_id)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._data.lock:
            found = self._data.instances.get(instance_id)
            return found.record if found else None

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        with self._data.lock:
            found = self._data.instances.get(instance_id)
            texts = list(found.history) if found else []
        return [HistoryEvent.from_json(text) for text in texts]

    def list_instances(self, query: InstanceQuery) -> RecordPage:
        after = _decode(query.continuation_token) if query.continuation_token else None
        with self._data.lock:
            records = [i.record for i in self._data.instances.values()]
        keyed = sorted((_key(r), r) for r in records if _matches(r, query))
        rows = [(k, r) for k, r in keyed if after is None or k > after]
        page = rows[: query.page_size]
        more = len(rows) > query.page_size
        token = _encode(page[-1][0]) if more and page else None
        return RecordPage(instances=tuple(r for _, r in page), continuation_token=token)

    def purge_instance(self, instance_id: str) -> bool:
        with self._data.lock:
            found = self._data.instances.get(instance_id)
            if found is None:
                return False
            status = found.record.runtime_status
            if status not in TERMINAL_STATUSES:
                raise InvalidInstanceStateError(instance_id, status, "purge")
            self._delete(instance_id)
            return True

    def purge_instances(self, query: InstanceQuery) -> int:
        with self._data.lock:
            doomed = [
                i.record.instance_id
                for i in self._data.instances.values()
                if i.record.runtime_status in TERMINAL_STATUSES and _matches(i.record, query)
            ]
            for instance_id in doomed:
                self._delete(instance_id)
            return len(doomed)

    # -- orchestration work ------------------------------------------------------------
    def lock_next_orchestrations(
        self,
        *,
        owner: str,
        now: dt.datetime,
        lease: dt.timedelta,
        limit: int,
        instance_ids: Sequence[str] = (),
        only: InstanceFilter | None = None,
    ) -> list[OrchestrationWorkItem]:
        now_us, token = _us(now), uuid.uuid4().hex
        with self._data.lock:
            picked = [i for i in dict.fromkeys(instance_ids) if self._free(i, now_us)]
            wanted = len(picked) + limit
            visible = sorted(
                (m.visible, n, m.instance_id)
                for n, m in self._data.inbox.items()
                if m.visible <= now_us
            )
            for _, _, instance_id in visible:
                if len(picked) >= wanted:
                    break
                admitted = only is None or only.admits(self._data.instances[instance_id].record)
                if instance_id not in picked and admitted and self._free(instance_id, now_us):
                    picked.append(instance_id)
            for instance_id in picked:
                leased = self._data.instances[instance_id]
                leased.token, leased.expires = token, _us(now + lease)
                leased.deliveries += 1
            return [self._work_item(i, now_us, token) for i in picked]

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        encoded = [_encoded(commit) for commit in commits]  # fails before anything changes
        lost = []
        with self._data.lock:
            for commit, texts in zip(commits, encoded, strict=True):
                if not self._apply(commit, texts):
                    lost.append(commit.work_item.instance.instance_id)
        return lost

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        with self._data.lock:
            found = self._data.instances.get(work_item.instance.instance_id)
            if found is not None and found.token and found.token == work_item.lock_token:
                found.token, found.expires = None, 0
                found.deliveries = max(found.deliveries - 1, 0)

    def note_waiting(self, instance_id: str, reason: str) -> None:
        with self._data.lock:
            found = self._data.instances.get(instance_id)
            if found is not None and found.record.runtime_status in WORKING_STATUSES:
                found.record = replace(found.record, waiting=reason)

    # -- activity work -----------------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: dt.datetime, lease: dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        now_us, token, expires = _us(now), uuid.uuid4().hex, _us(now + lease)
        with self._data.lock:
            ready = sorted((a.visible, n) for n, a in self._data.activities.items())
            taken = [n for visible, n in ready if visible <= now_us][:limit]
            for n in taken:
                activity = self._data.activities[n]
                activity.token, activity.visible = token, expires
                activity.dequeue_count += 1
            return [self._activity_item(n) for n in taken]

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        events = [result.event.to_json() for result in results]
        lost = []
        with self._data.lock:
            for result, event in zip(results, events, strict=True):
                item = result.work_item
                found = self._data.activities.get(item.message_id)
                if found is None or found.token != item.lock_token:
                    lost.append(item.message_id)
                    continue
                del self._data.activities[item.message_id]
                message = NewMessage(
                    instance_id=item.instance_id,
                    event=result.event,
                    visible_at=result.visible_at,
                    execution_id=item.execution_id,
                )
                self._enqueue(message, event)
        return lost

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: dt.datetime) -> None:
        with self._data.lock:
            found = self._data.activities.get(work_item.message_id)
            if found is not None and found.token == work_item.lock_token:
                found.token, found.visible = None, _us(visible_at)
                found.dequeue_count = max(found.dequeue_count - 1, 0)

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: dt.datetime
    ) -> list[int]:
        lost = []
        with self._data.lock:
            for item in work_items:
                found = self._data.activities.get(item.message_id)
                if found is None or found.token != item.lock_token:
                    lost.append(item.message_id)
                else:
                    found.visible = _us(until)
        return lost

    def close(self) -> None:
        pass

    # -- internals (the data lock is held) -----------------------------------------------
    def _create(self, new: NewInstance, start: str) -> None:
        existing = self._data.instances.get(new.instance_id)
        if existing is not None:
            if existing.record.runtime_status in ACTIVE_STATUSES:
                raise InstanceExistsError(new.instance_id, existing.record.runtime_status)
            self._delete(new.instance_id)
        self._data.instances[new.instance_id] = _Instance(new.pending_record())
        message = NewMessage(
            instance_id=new.instance_id,
            event=new.start_event,
            visible_at=new.visible_at,
            execution_id=new.execution_id,
        )
        self._enqueue(message, start)

    def _enqueue(self, message: NewMessage, event: str) -> bool:
        if message.instance_id not in self._data.instances:
            return False
        stored = _Message(message.instance_id, message.execution_id, _us(message.visible_at), event)
        self._data.inbox[next(self._data.ids)] = stored
        return True

    def _delete(self, instance_id: str) -> None:
        del self._data.instances[instance_id]
        for table in (self._data.inbox, self._data.activities):
            for n in [n for n, row in table.items() if _owner(row) == instance_id]:
                del table[n]

    def _free(self, instance_id: str, now_us: int) -> bool:
        found = self._data.instances.get(instance_id)
        return found is not None and found.expires <= now_us

    def _work_item(self, instance_id: str, now_us: int, token: str) -> OrchestrationWorkItem:
        messages = tuple(
            InboxMessage(
                message_id=n, event=HistoryEvent.from_json(m.event), execution_id=m.execution_id
            )
            for n, m in sorted(self._data.inbox.items())
            if m.instance_id == instance_id and m.visible <= now_us
        )
        found = self._data.instances[instance_id]
        return OrchestrationWorkItem(
            instance=found.record,
            messages=messages,
            lock_token=token,
            dequeue_count=found.deliveries,
        )

    def _activity_item(self, n: int) -> ActivityWorkItem:
        activity = self._data.activities[n]
        task = activity.task
        return ActivityWorkItem(
            message_id=n,
            instance_id=task.instance_id,
            execution_id=task.execution_id,
            task_id=task.task_id,
            name=task.name,
            input=task.input,
            lock_token=activity.token or "",
            dequeue_count=activity.dequeue_count,
        )

    def _apply(self, commit: OrchestrationCommit, texts: _Texts) -> bool:
        item = commit.work_item
        found = self._data.instances.get(item.instance.instance_id)
        if found is None or item.lock_token is None or found.token != item.lock_token:
            return False
        for message in item.messages:
            self._data.inbox.pop(message.message_id, None)
        if commit.reset_history:
            found.history.clear()
        found.history.extend(texts.history)
        record = commit.committed_record()
        found.record = replace(record, last_updated_time=_time(_us(record.last_updated_time)))
        found.token, found.expires, found.deliveries = None, 0, 0
        for new, start in zip(commit.new_instances, texts.starts, strict=True):
            try:
                self._create(new, start)
            except InstanceExistsError:
                if new.on_conflict is not None:
                    self._enqueue(new.on_conflict, new.on_conflict.event.to_json())
        for n in commit.completed_activities:
            self._data.activities.pop(n, None)
        for task in commit.activities:
            self._data.activities[next(self._data.ids)] = _Activity(task, _us(task.visible_at))
        for message, event in zip(commit.messages, texts.messages, strict=True):
            self._enqueue(message, event)
        return True


@dataclass
class _Texts:
    history: list[str]
    starts: list[str]
    messages: list[str]


def _encoded(commit: OrchestrationCommit) -> _Texts:
    for new in commit.new_instances:
        if new.on_conflict is not None:
            new.on_conflict.event.to_json()
    return _Texts(
        history=[event.to_json() for event in commit.new_events],
        starts=[new.start_event.to_json() for new in commit.new_instances],
        messages=[message.event.to_json() for message in commit.messages],
    )


def _owner(row: _Message | _Activity) -> str:
    return row.instance_id if isinstance(row, _Message) else row.task.instance_id


def _key(record: InstanceRecord) -> tuple[int, str]:
    return _us(record.created_time), record.instance_id


def _encode(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode(token: str) -> tuple[int, str]:
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(created), str(instance_id)
    except (ValueError, TypeError):
        raise ValueError(f"invalid continuation token {token!r}") from None


def _matches(record: InstanceRecord, query: InstanceQuery) -> bool:
    created = _us(record.created_time)
    return (
        (query.runtime_status is None or record.runtime_status in query.runtime_status)
        and (query.name is None or record.name == query.name)
        and record.instance_id.startswith(query.instance_id_prefix or "")
        and (query.created_time_from is None or created >= _us(query.created_time_from))
        and (query.created_time_to is None or created <= _us(query.created_time_to))
    )
