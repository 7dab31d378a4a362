"""The storage operations of the SQL backends, each run inside one open :class:`Tx`.

Every check-then-write below is safe in SQLite because write transactions start with
``BEGIN IMMEDIATE`` (one writer at a time), and in PostgreSQL because the checks read
with ``{for_update}`` / ``{skip_locked}`` or re-check their condition in the UPDATE's
WHERE clause and look at the row count.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from durably.backends import _sql as q
from durably.backends._codec import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    decode_token,
    encode_token,
    from_micros,
    to_micros,
)
from durably.backends._sql import Tx
from durably.backends.base import (
    ActivityClaim,
    ActivityResult,
    ActivityTask,
    ActivityWorkItem,
    InboxMessage,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.errors import InstanceExistsError, InvalidInstanceStateError
from durably.history import HistoryEvent, OrchestrationRuntimeStatus

_CANDIDATE_WINDOW = 16
"""Message rows read per wanted instance when picking work: the select walks the inbox
index oldest first and stops early, instead of grouping every visible message by
instance; an instance with a burst of messages may make a poll return fewer items."""
_CANDIDATE_SPARE = 4
"""Candidate instances offered to the lock per wanted instance (some may be busy)."""


# -- instances ---------------------------------------------------------------------


def select_instance(tx: Tx, instance_id: str) -> InstanceRecord | None:
    row = tx.one(q.SELECT_INSTANCE, tx.hub, instance_id)
    return _record(row) if row else None


def _record(row: tuple[Any, ...]) -> InstanceRecord:
    return InstanceRecord(
        instance_id=row[0],
        name=row[1],
        execution_id=row[2],
        runtime_status=OrchestrationRuntimeStatus(row[3]),
        input=row[4],
        output=row[5],
        custom_status=row[6],
        created_time=from_micros(row[7]),
        last_updated_time=from_micros(row[8]),
        parent_instance_id=row[9],
        history_length=row[10],
    )


def instance_row(hub: str, new: NewInstance) -> tuple[Any, ...]:
    """The parameters of :data:`~durably.backends._sql.INSERT_INSTANCE` for ``new``."""
    created = to_micros(new.created_time)
    return (
        hub,
        new.instance_id,
        new.name,
        new.execution_id,
        OrchestrationRuntimeStatus.Pending.value,
        new.input,
        created,
        created,
        new.parent_instance_id,
    )


def create_held(tx: Tx, new: NewInstance) -> OrchestrationWorkItem | None:
    """Create ``new`` with its start message and return its work item, held for this
    transaction as :func:`hold_work` holds one, or None (and nothing written) if another
    instance has the id. The item is made from what was written, without reading it
    back: a local start's first episode needs no read (and on PostgreSQL one round
    trip, not two). No orchestration work is announced: the episode consumes it."""
    tx.executemany(q.INSERT_INSTANCE, [instance_row(tx.hub, new)])
    event = new.start_event
    params = (to_micros(new.visible_at), event.to_json(), tx.hub, new.instance_id)
    (rows,) = tx.together([(q.INSERT_START_MESSAGE_RETURNING_ID, (*params, new.execution_id))])
    if not rows:
        return None
    tx.created += 1
    record = new.pending_record(from_micros(to_micros(new.created_time)))
    start = InboxMessage(message_id=rows[0][0], event=event, execution_id=new.execution_id)
    return OrchestrationWorkItem(instance=record, messages=(start,), lock_token="")


def create_instance(tx: Tx, new: NewInstance, *, notify: bool = True) -> None:
    """Insert a Pending instance and its start message, replacing a terminal one.

    Without ``notify``, no orchestration work is announced: the caller runs the first
    episode in this same transaction (a local start), which consumes the message."""
    row = instance_row(tx.hub, new)
    # Insert first: a new id (the usual case) costs one statement, not a check and a write.
    if not tx.execute(q.INSERT_INSTANCE, *row):
        existing = tx.one(q.SELECT_STATUS, tx.hub, new.instance_id)
        if existing is not None and existing[0] in ACTIVE_STATUSES:
            raise InstanceExistsError(new.instance_id, existing[0])
        delete_instance(tx, new.instance_id)  # a finished one (or one purged meanwhile)
        if not tx.execute(q.INSERT_INSTANCE, *row):
            # Only under PostgreSQL READ COMMITTED: a concurrent transaction created it.
            raise InstanceExistsError(new.instance_id, OrchestrationRuntimeStatus.Pending.value)
    start = new.start_event
    _insert_message(tx, new.instance_id, new.execution_id, new.visible_at, start, notify)
    tx.created += 1


def delete_instance(tx: Tx, instance_id: str) -> None:
    for statement in (q.DELETE_HISTORY, q.DELETE_INBOX, q.DELETE_ACTIVITIES, q.DELETE_INSTANCE):
        tx.execute(statement, tx.hub, instance_id)


def purge_instance(tx: Tx, instance_id: str) -> bool:
    row = tx.one(q.SELECT_STATUS, tx.hub, instance_id)
    if row is None:
        return False
    if row[0] not in TERMINAL_STATUSES:
        raise InvalidInstanceStateError(instance_id, row[0], "purge")
    delete_instance(tx, instance_id)
    tx.notify("status")
    return True


def purge_instances(tx: Tx, query: InstanceQuery) -> int:
    where, params = _where(query)
    statuses = sorted(s.value for s in TERMINAL_STATUSES)
    where += f" AND runtime_status IN ({_placeholders(len(statuses))})"
    select = f"SELECT instance_id FROM durably_instances WHERE {where}{{for_update}}"
    doomed = [row[0] for row in tx.all(select, tx.hub, *params, *statuses)]
    for instance_id in doomed:
        delete_instance(tx, instance_id)
    if doomed:
        tx.notify("status")
    return len(doomed)


def list_instances(tx: Tx, query: InstanceQuery) -> InstancePage:
    where, params = _where(query)
    if query.continuation_token:
        created, instance_id = decode_token(query.continuation_token)
        # A row-value comparison: both databases turn it into one index range seek.
        where += " AND (created_time, instance_id) > (?, ?)"
        params += [created, instance_id]
    rows = tx.all(
        f"SELECT {q.INSTANCE_COLUMNS} FROM durably_instances WHERE {where}"
        " ORDER BY created_time, instance_id LIMIT ?",
        tx.hub,
        *params,
        query.page_size + 1,
    )
    page = [_record(row) for row in rows[: query.page_size]]
    token = None
    if len(rows) > query.page_size and page:
        last = rows[query.page_size - 1]
        token = encode_token(last[7], last[0])
    return InstancePage(instances=tuple(page), continuation_token=token)


def _where(query: InstanceQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = ["task_hub = ?"]
    params: list[Any] = []
    if query.runtime_status is not None:
        statuses = sorted(s.value for s in query.runtime_status)
        clauses.append(f"runtime_status IN ({_placeholders(len(statuses)) or 'NULL'})")
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


def _placeholders(count: int) -> str:
    return ", ".join(["?"] * count)


# -- history and inbox -------------------------------------------------------------


def select_history(tx: Tx, instance_id: str) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    for (text,) in tx.all(q.SELECT_HISTORY, tx.hub, instance_id):
        if text.startswith("["):  # the events of one commit
            events += [HistoryEvent.from_dict(data) for data in json.loads(text)]
        else:
            events.append(HistoryEvent.from_json(text))
    return events


def _history_row(events: Sequence[HistoryEvent]) -> str:
    """One history row for the events one commit appends: the event, or an array of them.

    One row per commit instead of one per event: fewer statements and index entries,
    fewer pages written per commit. The row's sequence is its first event's number.
    """
    if len(events) == 1:
        return events[0].to_json()
    return "[" + ",".join(event.to_json() for event in events) + "]"


def enqueue(tx: Tx, message: NewMessage, delivered: Callable[[bool], None] | None = None) -> None:
    """Insert a message if its instance exists; ``delivered`` is told whether it did
    once that is known (:meth:`Tx.count_at_commit`: no round trip of its own on
    PostgreSQL). A message for an unknown instance writes nothing."""
    # No row lock on the target: two episodes messaging each other's instances would
    # deadlock in PostgreSQL. A purge racing this leaves a message nobody reads.
    event = message.event.to_json()
    visible = to_micros(message.visible_at)
    params = (message.execution_id, visible, event, tx.hub, message.instance_id)
    tell = delivered or _ignore
    tx.count_at_commit(q.ENQUEUE_IF_EXISTS, *params, then=lambda rows: tell(rows > 0))
    tx.notify("orchestration", message.visible_at)


def _ignore(delivered: bool) -> None:
    pass


def _insert_message(
    tx: Tx,
    instance_id: str,
    execution_id: str | None,
    visible_at: _dt.datetime,
    event: HistoryEvent,
    notify: bool = True,
) -> None:
    row = (tx.hub, instance_id, execution_id, to_micros(visible_at), event.to_json())
    tx.executemany(q.INSERT_MESSAGE, [row])  # no result needed: may ride a pipeline
    if notify:
        tx.notify("orchestration", visible_at)


# -- orchestration work ------------------------------------------------------------


def has_orchestration_work(tx: Tx, now: _dt.datetime) -> bool:
    """Whether some unlocked instance has a visible message (a read: no locks taken)."""
    now_us = to_micros(now)
    return tx.one(q.HAS_ORCHESTRATION_WORK, tx.hub, now_us, now_us) is not None


def has_activity_work(tx: Tx, now: _dt.datetime) -> bool:
    """Whether some activity request is visible (a locked one is visible at lease expiry)."""
    return tx.one(q.HAS_ACTIVITY_WORK, tx.hub, to_micros(now)) is not None


def lock_orchestrations(
    tx: Tx, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
) -> list[OrchestrationWorkItem]:
    """Lock up to ``limit`` instances with visible messages, oldest message first."""
    (rows,) = tx.together([_candidates_query(tx, now, limit)])
    return lock_named(tx, _candidates(rows, (), limit), owner, now, lease, limit=limit)


def hold_work(
    tx: Tx, named: list[str], now: _dt.datetime, limit: int
) -> list[OrchestrationWorkItem]:
    """Hold (see :func:`lock_named`) the free ones of ``named``, then up to ``limit``
    other instances with visible messages, oldest message first. The named ones (the
    instances of activity results: few), their messages and the search for others share
    one round trip; others found cost two more (the messages of the held ones only)."""
    queries = []
    if named:
        queries += [_lock_query(tx, named, now, None), _messages_query(tx, named, now)]
    if limit > 0:
        queries.append(_candidates_query(tx, now, limit))
    results = tx.together(queries)
    items = _work_items(named, results[0], results[1], "") if named else []
    others = _candidates(results[-1], named, limit) if limit > 0 else []
    if others:
        items += _lock_then_read(tx, others, now, limit, None, "")
    return items


def lock_named(
    tx: Tx,
    candidates: list[str],
    owner: str,
    now: _dt.datetime,
    lease: _dt.timedelta,
    *,
    limit: int | None = None,
) -> list[OrchestrationWorkItem]:
    """Lock up to ``limit`` (default: all) of ``candidates`` whose lock is free, with
    their visible messages; instances another transaction holds are skipped."""
    if not candidates:
        return []
    token = uuid.uuid4().hex
    lock = (owner, token, to_micros(now + lease))
    return _lock_then_read(tx, candidates, now, limit, lock, token)


def _lock_then_read(
    tx: Tx,
    candidates: list[str],
    now: _dt.datetime,
    limit: int | None,
    lock: tuple[str, str, int] | None,
    token: str,
) -> list[OrchestrationWorkItem]:
    # Oldest first: a LIMIT in the locking statement would take any of the candidates
    # (the plan decides), so lock the first ones wanted, and more only for those busy.
    wanted = len(candidates) if limit is None else limit
    locked: list[tuple[Any, ...]] = []
    taken = 0
    while taken < len(candidates) and len(locked) < wanted:
        chunk = candidates[taken : taken + wanted - len(locked)]
        taken += len(chunk)
        locked += tx.together([_lock_query(tx, chunk, now, lock)])[0]
    if not locked:
        return []
    (messages,) = tx.together([_messages_query(tx, [row[0] for row in locked], now)])
    return _work_items(candidates, locked, messages, token)


def _candidates_query(tx: Tx, now: _dt.datetime, limit: int) -> tuple[str, tuple[Any, ...]]:
    return q.LOCK_CANDIDATES, (tx.hub, to_micros(now), limit * _CANDIDATE_WINDOW)


def _candidates(rows: list[tuple[Any, ...]], held: Sequence[str], limit: int) -> list[str]:
    # Oldest messages first; some of their instances may be locked (another worker's
    # batch is running them), so offer a few times the limit and lock up to the limit.
    # Those in ``held`` this transaction holds already (no lock column says so).
    ids = dict.fromkeys(row[0] for row in rows)
    for instance_id in held:
        ids.pop(instance_id, None)
    return list(ids)[: limit * _CANDIDATE_SPARE]


def _lock_query(
    tx: Tx, candidates: list[str], now: _dt.datetime, lock: tuple[str, str, int] | None
) -> tuple[str, tuple[Any, ...]]:
    """The lock of the free ones of ``candidates``.

    Without ``lock`` (owner, token, expiry), the instances are only held until this
    transaction ends, with no lock written: for a transaction that also commits the
    episodes (:func:`apply_commit` with ``held``); their work items carry no token.
    """
    now_us = to_micros(now)
    wanted = len(candidates)
    ids = _placeholders(len(candidates))
    if lock is None:
        return q.HOLD_INSTANCES.replace("{ids}", ids), (tx.hub, *candidates, now_us, wanted)
    params = (tx.hub, *candidates, now_us, wanted, *lock, tx.hub)
    return q.LOCK_INSTANCES.replace("{ids}", ids), params


def _messages_query(
    tx: Tx, instance_ids: Sequence[str], now: _dt.datetime
) -> tuple[str, tuple[Any, ...]]:
    ids = _placeholders(len(instance_ids))
    return q.SELECT_VISIBLE_MESSAGES.replace("{ids}", ids), (tx.hub, *instance_ids, to_micros(now))


def _work_items(
    candidates: list[str],
    locked: list[tuple[Any, ...]],
    messages: list[tuple[Any, ...]],
    token: str,
) -> list[OrchestrationWorkItem]:
    """Work items of the ``locked`` instance rows with their ``messages`` (those of other
    instances are ignored), in ``candidates`` order."""
    records = {row[0]: _record(row) for row in locked}
    inbox: dict[str, list[InboxMessage]] = {instance_id: [] for instance_id in records}
    for row in messages:
        found = inbox.get(row[0])
        if found is not None:
            event = HistoryEvent.from_json(row[3])
            found.append(InboxMessage(message_id=row[1], execution_id=row[2], event=event))
    return [
        OrchestrationWorkItem(instance=records[i], messages=tuple(inbox[i]), lock_token=token)
        for i in candidates
        if i in records
    ]


Claimed = list[tuple[ActivityTask, ActivityClaim, int | None]]
"""Activities commits claimed, with the id of the row each took over (None: inserted
together by :func:`insert_claimed` at the end)."""


def apply_commit(
    tx: Tx,
    commit: OrchestrationCommit,
    claims: Claimed | None = None,
    *,
    held: bool = False,
    unchanged_at: _dt.datetime | None = None,
) -> bool:
    """Apply one episode's writes; False (nothing written) if the lock token changed.

    The activities the commit claims are added to ``claims`` (without a list, claims
    are ignored). ``held``: the instance was held earlier in this same transaction
    (:func:`lock_named` with ``hold``), so nobody else can have taken it: there is no
    token to check, the writes need no result and a pipelining driver sends them
    without waiting. ``unchanged_at``: nobody locked the instance; the commit applies
    only if it is still as the work item shows it, with no live lease and no message
    visible at that time (False, nothing written, otherwise).
    """
    item = commit.work_item
    instance_id = item.instance.instance_id
    # The lock is ours (or the instance unchanged), so nobody appended history meanwhile.
    start = 0 if commit.reset_history else item.instance.history_length
    statement, row = _instance_update(tx, commit, start, held, unchanged_at)
    if held:
        tx.executemany(statement, [row])
    elif unchanged_at is not None and tx.dialect.refuse:
        _write_or_refuse(tx, statement, row)
    elif tx.execute(statement, *row) != 1:
        return False
    tx.executemany(q.DELETE_MESSAGE, [(tx.hub, instance_id, m.message_id) for m in item.messages])
    if commit.reset_history:
        tx.execute(q.DELETE_HISTORY, tx.hub, instance_id)
    _episode_writes(tx, commit, claims, start)
    # Releasing the lock may expose messages that arrived during the episode: wake the
    # orchestration waiters if there are such. (With serial writes none can arrive
    # between a lock and a commit in one transaction; run_episodes checks its whole
    # batch at once otherwise.)
    if not held and unchanged_at is None:
        notify_if_messages_wait(tx, [instance_id])
    return True


def create_committed(
    tx: Tx, new: NewInstance, commit: OrchestrationCommit, claims: Claimed
) -> bool:
    """Create ``new`` as its first episode's ``commit`` leaves it (the episode ran
    before anything was written; its start message is never stored); False, with
    nothing written, if another instance has the id."""
    row = (
        tx.hub,
        new.instance_id,
        commit.name,
        commit.execution_id,
        commit.runtime_status.value,
        commit.input,
        commit.output,
        commit.custom_status,
        to_micros(new.created_time),
        to_micros(commit.last_updated_time),
        new.parent_instance_id,
        len(commit.new_events),
    )
    if tx.dialect.refuse:
        _write_or_refuse(tx, q.INSERT_COMMITTED_INSTANCE, row)
    elif not tx.execute(q.INSERT_COMMITTED_INSTANCE, *row):
        return False
    tx.created += 1
    _episode_writes(tx, commit, claims, 0)
    return True


def _write_or_refuse(tx: Tx, statement: str, row: tuple[Any, ...]) -> None:
    """Send a write that must change a row without waiting for its count: if it
    changes none, the transaction fails (see ``Dialect.refuse``)."""
    write = statement + " RETURNING 1"
    tx.executemany(tx.dialect.refuse.replace("{write}", write), [row])


def _episode_writes(
    tx: Tx, commit: OrchestrationCommit, claims: Claimed | None, start: int
) -> None:
    """The writes of an episode after its instance row's: history from ``start``, the
    retired and new activity work, messages and new instances, and the notes."""
    instance_id = commit.work_item.instance.instance_id
    if commit.new_events:
        history = (tx.hub, instance_id, start, _history_row(commit.new_events))
        tx.executemany(q.INSERT_HISTORY, [history])
    claim = commit.claim if claims is not None else None
    claimed = commit.activities[: claim.count] if claim is not None else ()
    # A claimed activity takes over the row of a completed one where it can.
    reused = commit.completed_activities[: len(claimed)]
    rest = commit.completed_activities[len(reused) :]
    tx.executemany(q.DELETE_ACTIVITY, [(tx.hub, i) for i in rest])
    _write_outbox(tx, commit, claims, claimed, reused)
    if (
        commit.runtime_status.is_terminal
        and commit.runtime_status is not commit.work_item.instance.runtime_status
    ):
        tx.notify("status")
        tx.finished.append(commit)


def _instance_update(
    tx: Tx,
    commit: OrchestrationCommit,
    start: int,
    held: bool,
    unchanged_at: _dt.datetime | None,
) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE of the instance row for :func:`apply_commit`, with its parameters."""
    old = commit.work_item.instance
    instance_id = old.instance_id
    # Every variant sets these columns and ends with the row's key, then its check.
    common: tuple[Any, ...] = (
        commit.output,
        commit.custom_status,
        to_micros(commit.last_updated_time),
        start + len(commit.new_events),
        tx.hub,
        instance_id,
    )
    if unchanged_at is not None:
        at = to_micros(unchanged_at)
        common += (old.execution_id, old.history_length, old.runtime_status.value, at)
        common += (tx.hub, instance_id, at)
        step_sql, episode_sql = (
            q.UPDATE_AFTER_STEP_IF_UNCHANGED,
            q.UPDATE_AFTER_EPISODE_IF_UNCHANGED,
        )
    elif held:
        step_sql, episode_sql = q.UPDATE_AFTER_STEP_HELD, q.UPDATE_AFTER_EPISODE_HELD
    else:
        common += (commit.work_item.lock_token,)
        step_sql, episode_sql = q.UPDATE_AFTER_STEP, q.UPDATE_AFTER_EPISODE
    if (
        commit.runtime_status is old.runtime_status
        and commit.name == old.name
        and commit.execution_id == old.execution_id
        and commit.input == old.input
    ):
        # Only what an ordinary step changes: an indexed column named in SET costs its
        # index a page write even when the value stays the same.
        return step_sql, common
    # A status change, a new execution, a rewind: the full UPDATE.
    return episode_sql, (
        commit.name,
        commit.execution_id,
        commit.runtime_status.value,
        commit.input,
        *common,
    )


def notify_if_messages_wait(tx: Tx, instance_ids: Sequence[str]) -> None:
    """Wake orchestration waiters if one of these instances (about to be unlocked) has
    messages: ones that arrived while they were locked. Any message counts, visible or
    not: one that arrived during the episode is typically stamped later than its now."""
    if instance_ids:
        statement = q.HAS_MESSAGES.replace("{ids}", _placeholders(len(instance_ids)))
        tx.notify_if_found("orchestration", statement, tx.hub, *instance_ids)


def _write_outbox(
    tx: Tx,
    commit: OrchestrationCommit,
    claims: Claimed | None,
    claimed: Sequence[ActivityTask],
    reused: Sequence[int],
) -> None:
    """The commit's new instances, messages and activities; ``claimed`` (the first of its
    activities) go to ``claims``, the first of them written over the ``reused`` rows."""
    for new in commit.new_instances:
        try:
            create_instance(tx, new)
        except InstanceExistsError:
            if new.on_conflict is not None:
                enqueue(tx, new.on_conflict)
    activities = commit.activities[len(claimed) :]
    claim = commit.claim
    if claimed and claim is not None and claims is not None:
        ids = [*reused, *[None] * (len(claimed) - len(reused))]
        claims += [(task, claim, i) for task, i in zip(claimed, ids, strict=True)]
        expires = to_micros(claim.expires)
        lock = (expires, claim.owner, claim.lock_token, expires)
        rows = [
            (i, tx.hub, a.instance_id, a.execution_id, a.task_id, a.name, a.input, *lock)
            for a, i in zip(claimed, reused, strict=False)
        ]
        tx.executemany(q.REUSE_ACTIVITY, rows)
    tx.executemany(
        q.INSERT_ACTIVITY,
        [
            (
                tx.hub,
                a.instance_id,
                a.execution_id,
                a.task_id,
                a.name,
                a.input,
                to_micros(a.visible_at),
            )
            for a in activities
        ],
    )
    for activity in activities:
        tx.notify("activity", activity.visible_at)
    own = commit.work_item.instance.instance_id
    for message in commit.messages:
        if message.instance_id == own:  # our own row is locked by us: it exists
            _insert_message(tx, own, message.execution_id, message.visible_at, message.event)
        else:
            enqueue(tx, message)


_CLAIMED_ROWS = 64
"""Claimed activities per INSERT statement."""


def insert_claimed(tx: Tx, claims: Claimed) -> Callable[[], list[ActivityWorkItem]]:
    """Insert the claimed activities that took over no row, locked (as lock_activities
    would leave them), in a few multi-row statements. Returns a function that makes the
    work items of all the claims, in the order given, once the transaction committed:
    the new rows' ids are read then (on PostgreSQL, in the COMMIT's round trip)."""
    new = [(a, claim) for a, claim, reused in claims if reused is None]
    ids: dict[tuple[str, int], int] = {}

    def keep(rows: list[tuple[Any, ...]]) -> None:
        ids.update(((row[1], row[2]), row[0]) for row in rows)

    for start in range(0, len(new), _CLAIMED_ROWS):
        chunk = new[start : start + _CLAIMED_ROWS]
        values = ", ".join([q.CLAIMED_ACTIVITY_VALUES] * len(chunk))
        params: list[Any] = []
        for a, claim in chunk:
            expires = to_micros(claim.expires)
            params += (tx.hub, a.instance_id, a.execution_id, a.task_id, a.name, a.input)
            params += (expires, claim.owner, claim.lock_token, expires)
        statement = q.INSERT_CLAIMED_ACTIVITIES.replace("{values}", values)
        tx.rows_at_commit(statement, *params, then=keep)

    def work_items() -> list[ActivityWorkItem]:
        return [
            ActivityWorkItem(
                message_id=ids[(a.instance_id, a.task_id)] if reused is None else reused,
                instance_id=a.instance_id,
                execution_id=a.execution_id,
                task_id=a.task_id,
                name=a.name,
                input=a.input,
                lock_token=claim.lock_token,
            )
            for a, claim, reused in claims
        ]

    return work_items


def release_instance(tx: Tx, work_item: OrchestrationWorkItem) -> None:
    tx.execute(q.RELEASE_INSTANCE, tx.hub, work_item.instance.instance_id, work_item.lock_token)
    tx.notify("orchestration")


def renew_instance(tx: Tx, work_item: OrchestrationWorkItem, until: _dt.datetime) -> bool:
    instance_id = work_item.instance.instance_id
    return (
        tx.execute(q.RENEW_INSTANCE, to_micros(until), tx.hub, instance_id, work_item.lock_token)
        == 1
    )


# -- activity work -----------------------------------------------------------------


def lock_activities(
    tx: Tx, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
) -> list[ActivityWorkItem]:
    now_us, expires = to_micros(now), to_micros(now + lease)
    token = uuid.uuid4().hex
    rows = tx.all(
        q.LOCK_ACTIVITIES, tx.hub, now_us, now_us, limit, owner, token, expires, expires, tx.hub
    )
    rows.sort()
    return [
        ActivityWorkItem(
            message_id=row[0],
            instance_id=row[1],
            execution_id=row[2],
            task_id=row[3],
            name=row[4],
            input=row[5],
            lock_token=token,
            dequeue_count=row[6],
        )
        for row in rows
    ]


def complete_activity(tx: Tx, result: ActivityResult) -> bool:
    """Delete the locked request and deliver its result; False if the lock was lost."""
    item = result.work_item
    if tx.execute(q.DELETE_LOCKED_ACTIVITY, tx.hub, item.message_id, item.lock_token) != 1:
        return False
    # A purge deletes an instance's activity work with it, so the delete above
    # succeeding means the instance is still there: no existence check needed.
    _insert_message(tx, item.instance_id, item.execution_id, result.visible_at, result.event)
    return True


def abandon_activity(tx: Tx, work_item: ActivityWorkItem, visible_at: _dt.datetime) -> None:
    visible = to_micros(visible_at)
    if tx.execute(q.ABANDON_ACTIVITY, visible, tx.hub, work_item.message_id, work_item.lock_token):
        tx.notify("activity", visible_at)


def renew_activity(tx: Tx, work_item: ActivityWorkItem, until: _dt.datetime) -> bool:
    expires = to_micros(until)
    changed = tx.execute(
        q.RENEW_ACTIVITY, expires, expires, tx.hub, work_item.message_id, work_item.lock_token
    )
    return changed == 1
