"""Picking orchestration work: which instances to take, leased or held, with their messages.

Two ways to take an instance: *lock* it (a lease written on its row: owner, token,
expiry) for an episode committed in a later transaction, or *hold* it for the rest of
this transaction, which also commits the episode (SQLite's write lock or PostgreSQL's
row lock keeps it; nothing is written). Others' instances are passed by, not waited for.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Sequence
from typing import Any

from durably.backends._codec import to_micros
from durably.backends.base import ActivityWorkItem, OrchestrationWorkItem
from durably.backends.sql import rows
from durably.backends.sql import statements as q
from durably.backends.sql.tx import Tx
from durably.versions import InstanceFilter

CANDIDATE_WINDOW = 16
"""Message rows read per wanted instance when picking work: the select walks the inbox
index oldest first and stops early, instead of grouping every visible message by
instance; an instance with a burst of messages may make a poll return fewer items."""
CANDIDATE_SPARE = 4
"""Candidate instances offered to the lock per wanted instance (some may be busy)."""

Lease = tuple[str, str, int]
"""A lease to write: owner, token, expiry (microseconds)."""


def has_orchestration_work(tx: Tx, now: _dt.datetime) -> bool:
    """Whether some unlocked instance has a visible message (a read: no locks taken)."""
    now_us = to_micros(now)
    return tx.one(q.HAS_ORCHESTRATION_WORK, tx.hub, now_us, now_us) is not None


def lock(
    tx: Tx,
    named: Sequence[str],
    owner: str,
    now: _dt.datetime,
    lease: _dt.timedelta,
    limit: int,
    *,
    excluded: Sequence[str] = (),
    only: InstanceFilter | None = None,
) -> list[OrchestrationWorkItem]:
    """Lease the free ones of ``named``, then up to ``limit`` other free instances with
    visible messages (oldest message first, none of ``excluded``, those ``only`` admits),
    all under one token; each lease counts a delivery."""
    token = uuid.uuid4().hex
    leased = (owner, token, to_micros(now + lease))
    items = _take_then_read(tx, list(named), now, None, leased, token) if named else []
    if limit > 0:
        (found,) = tx.together([_candidates_query(tx, now, limit, only)])
        others = _candidates(found, [*named, *excluded], limit)
        items += _take_then_read(tx, others, now, limit, leased, token)
    return items


def hold_leased(
    tx: Tx, leased: Sequence[OrchestrationWorkItem], now: _dt.datetime
) -> list[OrchestrationWorkItem]:
    """Hold, for this transaction, instances this worker leased (the lease's token proves
    it), with their messages visible now: those of a lease lost meanwhile are left out."""
    if not leased:
        return []
    ids = [item.instance.instance_id for item in leased]
    token = leased[0].lock_token
    held, messages = tx.together(
        [(q.hold_leased(len(ids)), (tx.hub, *ids, token)), _messages_query(tx, ids, now)]
    )
    return rows.work_items(ids, held, messages, token)


def hold(
    tx: Tx,
    named: Sequence[str],
    now: _dt.datetime,
    limit: int,
    activities: Sequence[ActivityWorkItem] = (),
    only: InstanceFilter | None = None,
) -> list[OrchestrationWorkItem]:
    """Hold the free ones of ``named``, then up to ``limit`` other instances with visible
    messages, oldest message first, of those no lease has taken since their last commit
    (one that may have killed its worker waits for a counted lease). The named ones
    (few: the instances of activity results), their messages, the leases of
    ``activities`` and the search for others share one round trip; others found cost
    two more (their holds, then messages).

    A named instance one of whose ``activities`` is no longer leased by its work item's
    token is left out (see :meth:`FastPaths.run_episodes`); the activity rows of the
    others are held too, so their leases cannot be taken before the commit."""
    queries = []
    if named:
        queries += [_take_query(tx, named, now, None), _messages_query(tx, named, now)]
    if activities:
        ids = [a.message_id for a in activities]
        queries.append((q.hold_activities(len(ids)), (tx.hub, *ids)))
    if limit > 0:
        queries.append(_candidates_query(tx, now, limit, only))
    results = tx.together(queries)
    items = rows.work_items(named, results[0], results[1], None) if named else []
    if activities:
        leases = dict(results[2 if named else 0])
        stale = {a.instance_id for a in activities if leases.get(a.message_id) != a.lock_token}
        items = [item for item in items if item.instance.instance_id not in stale]
    others = _candidates(results[-1], named, limit) if limit > 0 else []
    if others:
        items += _take_then_read(tx, others, now, limit, None, None, fresh=True)
    return items


def _take_then_read(
    tx: Tx,
    candidates: list[str],
    now: _dt.datetime,
    limit: int | None,
    lease: Lease | None,
    token: str | None,
    *,
    fresh: bool = False,
) -> list[OrchestrationWorkItem]:
    """Lease (or hold, without ``lease``; only uncounted ones with ``fresh``) up to
    ``limit`` (default: all) of ``candidates`` that are free, then read their messages."""
    # Oldest first: a LIMIT in the locking statement would take any of the candidates
    # (the plan decides), so take the first ones wanted, and more only for those busy.
    wanted = len(candidates) if limit is None else limit
    taken: list[tuple[Any, ...]] = []
    offered = 0
    while offered < len(candidates) and len(taken) < wanted:
        chunk = candidates[offered : offered + wanted - len(taken)]
        offered += len(chunk)
        taken += tx.together([_take_query(tx, chunk, now, lease, fresh)])[0]
    if not taken:
        return []
    (messages,) = tx.together([_messages_query(tx, [row[0] for row in taken], now)])
    return rows.work_items(candidates, taken, messages, token)


def _candidates_query(
    tx: Tx, now: _dt.datetime, limit: int, only: InstanceFilter | None
) -> tuple[str, tuple[Any, ...]]:
    window = limit * CANDIDATE_WINDOW
    if only is None:
        return q.LOCK_CANDIDATES, (tx.hub, to_micros(now), window)
    key, names = only.version_key, sorted(only.names or ())
    compare = None if key is None else ("=" if only.strict else "<=")
    statement = q.lock_candidates_taken(compare, len(names))
    return statement, (tx.hub, to_micros(now), *([key] if key else []), *names, window)


def _candidates(found: list[tuple[Any, ...]], excluded: Sequence[str], limit: int) -> list[str]:
    # Oldest messages first; some of their instances may be locked (another worker's
    # batch is running them), so offer a few times the limit and take up to the limit.
    # The excluded ones are taken already (no lock column may say so).
    ids = dict.fromkeys(row[0] for row in found)
    for instance_id in excluded:
        ids.pop(instance_id, None)
    return list(ids)[: limit * CANDIDATE_SPARE]


def _take_query(
    tx: Tx,
    candidates: Sequence[str],
    now: _dt.datetime,
    lease: Lease | None,
    fresh: bool = False,
) -> tuple[str, tuple[Any, ...]]:
    now_us = to_micros(now)
    count = len(candidates)
    if lease is None:
        statement = q.hold_fresh_instances(count) if fresh else q.hold_instances(count)
        return statement, (tx.hub, *candidates, now_us, count)
    return q.lock_instances(count), (tx.hub, *candidates, now_us, count, *lease, tx.hub)


def _messages_query(
    tx: Tx, instance_ids: Sequence[str], now: _dt.datetime
) -> tuple[str, tuple[Any, ...]]:
    statement = q.visible_messages(len(instance_ids))
    return statement, (tx.hub, *instance_ids, to_micros(now))
