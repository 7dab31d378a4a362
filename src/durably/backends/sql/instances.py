"""Instances and their inboxes: create, message, read, list, purge (each inside a Tx).

Every check-then-write is safe in SQLite because write transactions start with
``BEGIN IMMEDIATE`` (one writer at a time), and in PostgreSQL because the checks read
``{for_update}`` or re-check their condition in the write and look at the row count.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from durably.backends._codec import from_micros, to_micros
from durably.backends.base import (
    InboxMessage,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationWorkItem,
    RecordPage,
    StoreSummary,
)
from durably.backends.sql import reads, rows
from durably.backends.sql import statements as q
from durably.backends.sql.tx import Tx
from durably.errors import InstanceExistsError, InvalidInstanceStateError
from durably.history import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)


def select(tx: Tx, instance_id: str) -> InstanceRecord | None:
    """The instance, or None."""
    return reads.run(tx, reads.instance(tx.hub, instance_id))


def history(tx: Tx, instance_id: str) -> list[HistoryEvent]:
    """The instance's history in order."""
    return reads.run(tx, reads.history(tx.hub, instance_id))


def create(tx: Tx, new: NewInstance, *, announce: bool = True) -> None:
    """Insert ``new`` (Pending) with its start message, replacing a finished instance;
    ``InstanceExistsError`` if an active one has the id. Without ``announce`` no
    orchestration work is announced: the caller runs the first episode in this same
    transaction, which consumes the message."""
    row = rows.new_instance(tx.hub, new)
    # Insert first: a new id (the usual case) costs one statement, not a check and a write.
    if not tx.execute(q.INSERT_INSTANCE, *row):
        existing = tx.one(q.SELECT_STATUS, tx.hub, new.instance_id)
        if existing is not None and existing[0] in ACTIVE_STATUSES:
            raise InstanceExistsError(new.instance_id, existing[0])
        delete(tx, new.instance_id)  # a finished one (or one purged meanwhile)
        if not tx.execute(q.INSERT_INSTANCE, *row):
            # Only under PostgreSQL READ COMMITTED: a concurrent transaction created it.
            raise InstanceExistsError(new.instance_id, OrchestrationRuntimeStatus.Pending.value)
    insert_message(
        tx, new.instance_id, new.execution_id, new.visible_at, new.start_event, new.input
    )
    if announce:
        tx.notify("orchestration", new.visible_at)
    tx.created += 1


def create_held(tx: Tx, new: NewInstance) -> OrchestrationWorkItem | None:
    """Create ``new`` with its start message and return its work item, held by this
    transaction (no lease), or None (nothing written) if another instance has the id.
    The item is made from what was written, without reading it back; no work is
    announced: the episode this transaction runs consumes the message."""
    tx.executemany(q.INSERT_INSTANCE, [rows.new_instance(tx.hub, new)])
    event = new.start_event
    text = rows.event_text(event, new.input)
    params = (to_micros(new.visible_at), text, tx.hub, new.instance_id)
    (inserted,) = tx.together([(q.INSERT_START_MESSAGE, (*params, new.execution_id))])
    if not inserted:
        return None
    tx.created += 1
    record = new.pending_record()
    start = InboxMessage(message_id=inserted[0][0], event=event, execution_id=new.execution_id)
    return OrchestrationWorkItem(instance=record, messages=(start,), lock_token=None)


def enqueue(tx: Tx, message: NewMessage, delivered: Callable[[bool], None] | None = None) -> None:
    """Insert a message if its instance exists; ``delivered`` is told whether it did
    once that is known (at the commit). A message for an unknown instance writes nothing."""
    # No row lock on the target: two episodes messaging each other's instances would
    # deadlock in PostgreSQL. A purge racing this leaves a message nobody reads.
    event = message.event.to_json()
    visible = to_micros(message.visible_at)
    params = (message.execution_id, visible, event, tx.hub, message.instance_id)
    tell = delivered or _ignore
    tx.count_at_commit(q.ENQUEUE_IF_EXISTS, *params, then=lambda count: tell(count > 0))
    tx.notify("orchestration", message.visible_at)


def _ignore(delivered: bool) -> None:
    pass


def insert_message(
    tx: Tx,
    instance_id: str,
    execution_id: str | None,
    visible_at: _dt.datetime,
    event: HistoryEvent,
    instance_input: str | None = None,
) -> None:
    """Insert a message for an instance known to exist (no result waited for); a start
    message whose input is ``instance_input`` (the row's) is stored without it."""
    text = rows.event_text(event, instance_input)
    row = (tx.hub, instance_id, execution_id, to_micros(visible_at), text)
    tx.executemany(q.INSERT_MESSAGE, [row])


def release(tx: Tx, instance_id: str, lock_token: str) -> None:
    """End an instance's lease, consuming nothing (nothing if the lease was lost)."""
    tx.execute(q.RELEASE_INSTANCE, tx.hub, instance_id, lock_token)
    tx.notify("orchestration")


def note_waiting(tx: Tx, instance_id: str, reason: str) -> None:
    """Note why a Pending or Running instance's work waits, until its next commit."""
    statuses = sorted(status.value for status in WORKING_STATUSES)
    tx.execute(q.NOTE_WAITING, reason, tx.hub, instance_id, *statuses)


def delete(tx: Tx, instance_id: str) -> None:
    """Delete an instance with its history, inbox and activity work."""
    for statement in (q.DELETE_HISTORY, q.DELETE_INBOX, q.DELETE_ACTIVITIES, q.DELETE_INSTANCE):
        tx.execute(statement, tx.hub, instance_id)


def purge(tx: Tx, instance_id: str) -> bool:
    """Delete a finished instance; False if unknown, ``InvalidInstanceStateError`` if active."""
    row = tx.one(q.SELECT_STATUS, tx.hub, instance_id)
    if row is None:
        return False
    if row[0] not in TERMINAL_STATUSES:
        raise InvalidInstanceStateError(instance_id, row[0], "purge")
    delete(tx, instance_id)
    tx.notify("status")
    return True


def guard_entity(tx: Tx, instance_id: str) -> None:
    """Before this transaction sends to the entity: a purge of it is not under way, and
    none starts until the commit (see ``Dialect.entity_guard``)."""
    if tx.dialect.entity_guard is not None:
        tx.execute(tx.dialect.entity_guard, tx.hub, instance_id)


def ensure_entity(tx: Tx, row: NewInstance) -> None:
    """Create an entity's row unless it is there, before this transaction sends to it.
    Neither reads nor locks the row (an entity's row is taken by its own episodes, and
    a lock here would deadlock batches that message each other's entities); no start
    message: the messages sent to it are its work."""
    if row.instance_id in tx.entities:
        return
    tx.entities.add(row.instance_id)
    guard_entity(tx, row.instance_id)
    tx.execute(q.INSERT_INSTANCE, *rows.new_instance(tx.hub, row))  # there already: nothing


def send_to_entity(tx: Tx, row: NewInstance, message: NewMessage) -> None:
    """Deliver ``message`` to an entity, creating its row first if it has none."""
    ensure_entity(tx, row)
    enqueue(tx, message)


def purge_entity(tx: Tx, instance_id: str) -> bool:
    """Delete an entity's row if it holds nothing: no state, no lock or kept messages,
    no message in its inbox. False (nothing deleted) otherwise, if there is none, or if
    a sender or an episode has it now (it is skipped: a purge never waits)."""
    if tx.dialect.entity_purge_guard is not None:
        got = tx.one(tx.dialect.entity_purge_guard, tx.hub, instance_id)
        if not (got and got[0]):
            return False
    row = tx.one(q.SELECT_EMPTY_ENTITY, tx.hub, instance_id)
    if row is None or row[0] is not None or row[1] is not None:
        return False
    if tx.one(q.HAS_INBOX, tx.hub, instance_id) is not None:
        return False
    delete(tx, instance_id)
    tx.notify("status")
    return True


def purge_matching(tx: Tx, query: InstanceQuery) -> int:
    """Delete every finished instance that matches ``query``; how many."""
    where, params = _where(query)
    statuses = sorted(s.value for s in TERMINAL_STATUSES)
    where += f" AND runtime_status IN ({q.marks(len(statuses))})"
    select_doomed = f"SELECT instance_id FROM durably_instances WHERE {where}{{for_update}}"
    doomed = [row[0] for row in tx.all(select_doomed, tx.hub, *params, *statuses)]
    for instance_id in doomed:
        delete(tx, instance_id)
    if doomed:
        tx.notify("status")
    return len(doomed)


def page(tx: Tx, query: InstanceQuery) -> RecordPage:
    """A page of instances in (created_time, instance_id) order."""
    where, params = _where(query)
    return reads.run(tx, reads.page(tx.hub, query, where, params))


def where_of(query: InstanceQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (after ``task_hub = ?``) and parameters of ``query``'s filters."""
    return _where(query)


def _where(query: InstanceQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = ["task_hub = ?"]
    params: list[Any] = []
    if query.runtime_status is not None:
        statuses = sorted(s.value for s in query.runtime_status)
        clauses.append(f"runtime_status IN ({q.marks(len(statuses)) or 'NULL'})")
        params += statuses
    if query.name is not None:
        clauses.append("name = ?")
        params.append(query.name)
    if query.instance_id_prefix is not None:
        # substr rather than LIKE: LIKE is case-insensitive in SQLite and needs escaping.
        # The length is our own int, so inlining it is safe and spares a typed parameter.
        clauses.append(f"substr(instance_id, 1, {len(query.instance_id_prefix)}) = ?")
        params.append(query.instance_id_prefix)
    if query.created_time_from is not None:
        clauses.append("created_time >= ?")
        params.append(to_micros(query.created_time_from))
    if query.created_time_to is not None:
        clauses.append("created_time <= ?")
        params.append(to_micros(query.created_time_to))
    return " AND ".join(clauses), params


MINUTE_US = 60_000_000


def summary(tx: Tx, now: _dt.datetime, minutes: int) -> StoreSummary:
    """The dashboard's summary, each part from an index (see :class:`StoreSummary`)."""
    until = to_micros(now)
    since = until - minutes * MINUTE_US
    finished = sorted(status.value for status in TERMINAL_STATUSES)
    queries: list[tuple[str, tuple[Any, ...]]] = [
        (q.COUNT_BY_STATUS, (tx.hub,)),
        (q.BACKLOG_MESSAGES, (tx.hub, until)),
        (q.BACKLOG_ACTIVITIES, (tx.hub, until)),
    ]
    if minutes:
        queries += [
            (q.STARTED_PER_MINUTE, (since, tx.hub, since)),
            (q.finished_per_minute(len(finished)), (since, tx.hub, *finished, since)),
        ]
    counts, messages, activities, *per_minute = tx.together(queries)
    started, ended = per_minute or ([], [])
    backlog = {"orchestration": messages[0], "activity": activities[0]}
    oldest = {
        kind: from_micros(row[1]) if row[1] is not None else None for kind, row in backlog.items()
    }
    due = [at for at in oldest.values() if at is not None]
    return StoreSummary(
        counts={OrchestrationRuntimeStatus(status): count for status, count in counts},
        started=_per_minute(started, minutes),
        finished=_per_minute(ended, minutes),
        oldest_waiting=min(due) if due else None,
        backlog={kind: int(row[0]) for kind, row in backlog.items()},
        oldest=oldest,
    )


def _per_minute(rows: list[tuple[Any, ...]], minutes: int) -> tuple[int, ...]:
    buckets = [0] * minutes
    for minute, count in rows:
        if 0 <= int(minute) < minutes:
            buckets[int(minute)] = int(count)
    return tuple(buckets)
