"""Activity work: queue, claim, lease, complete, hand back (each inside a Tx).

A commit may *claim* some of the activities it schedules for the worker that made it:
they are written already leased to that worker (as :func:`lock` would leave them), and
it runs them without polling for them. A claimed activity takes over the row of an
activity whose result the same commit applied, where there is one.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable
from typing import Any

from durably.backends._codec import to_micros
from durably.backends.base import (
    ActivityClaim,
    ActivityResult,
    ActivityTask,
    ActivityWorkItem,
    OrchestrationCommit,
)
from durably.backends.sql import instances, rows
from durably.backends.sql import statements as q
from durably.backends.sql.tx import Tx

Claimed = list[tuple[ActivityTask, ActivityClaim, int | None]]
"""Activities commits claimed, with the id of the row each took over (None: inserted
by :func:`insert_claimed` once the transaction's commits are written)."""

CLAIMED_ROWS = 64
"""Claimed activities per INSERT statement."""


def has_work(tx: Tx, now: _dt.datetime) -> bool:
    """Whether some request is visible (a leased one is visible at lease expiry)."""
    return tx.one(q.HAS_ACTIVITY_WORK, tx.hub, to_micros(now)) is not None


def queue(tx: Tx, commit: OrchestrationCommit, claims: Claimed | None) -> None:
    """Write the activity work of ``commit``: retire the activities it applied, queue
    those it schedules, the claimed ones leased to the claim (added to ``claims``;
    without a list, claims are ignored and every activity is queued unleased)."""
    claim = commit.claim if claims is not None else None
    claimed = commit.activities[: claim.count] if claim is not None else ()
    reused = commit.completed_activities[: len(claimed)]
    retired = commit.completed_activities[len(reused) :]
    tx.executemany(q.DELETE_ACTIVITY, [(tx.hub, i) for i in retired])
    if claim is not None and claims is not None and claimed:
        ids = [*reused, *[None] * (len(claimed) - len(reused))]
        claims += [(task, claim, i) for task, i in zip(claimed, ids, strict=True)]
        expires = to_micros(claim.expires)
        lease = (expires, claim.owner, claim.lock_token, expires)
        reuse = [
            (
                i,
                tx.hub,
                a.instance_id,
                a.execution_id,
                a.task_id,
                a.name,
                a.input,
                a.trace_context,
                *lease,
            )
            for a, i in zip(claimed, reused, strict=False)
        ]
        tx.executemany(q.REUSE_ACTIVITY, reuse)
    queued = commit.activities[len(claimed) :]
    inserted = [
        (
            tx.hub,
            a.instance_id,
            a.execution_id,
            a.task_id,
            a.name,
            a.input,
            a.trace_context,
            to_micros(a.visible_at),
        )
        for a in queued
    ]
    tx.executemany(q.INSERT_ACTIVITY, inserted)
    for activity in queued:
        tx.notify("activity", activity.visible_at)


def insert_claimed(tx: Tx, claims: Claimed) -> Callable[[], list[ActivityWorkItem]]:
    """Insert the claimed activities that took over no row, leased, in a few multi-row
    statements. Returns a function that makes the work items of all the claims, in the
    order given, once the transaction committed: the new rows' ids are read then (on
    PostgreSQL, in the COMMIT's round trip)."""
    new = [(a, claim) for a, claim, reused in claims if reused is None]
    ids: dict[tuple[str, int], int] = {}

    def keep(inserted: list[tuple[Any, ...]]) -> None:
        ids.update(((row[1], row[2]), row[0]) for row in inserted)

    for start in range(0, len(new), CLAIMED_ROWS):
        chunk = new[start : start + CLAIMED_ROWS]
        params: list[Any] = []
        for a, claim in chunk:
            expires = to_micros(claim.expires)
            params += (tx.hub, a.instance_id, a.execution_id, a.task_id, a.name, a.input)
            params += (a.trace_context, expires, claim.owner, claim.lock_token, expires)
        tx.rows_at_commit(q.insert_claimed_activities(len(chunk)), *params, then=keep)

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
                trace_context=a.trace_context,
            )
            for a, claim, reused in claims
        ]

    return work_items


def lock(
    tx: Tx, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
) -> list[ActivityWorkItem]:
    """Lease up to ``limit`` visible requests, oldest first, under one token."""
    now_us, expires = to_micros(now), to_micros(now + lease)
    token = uuid.uuid4().hex
    found = tx.all(
        q.LOCK_ACTIVITIES, tx.hub, now_us, now_us, limit, owner, token, expires, expires, tx.hub
    )
    found.sort()
    return [rows.activity_item(row, token) for row in found]


def complete(tx: Tx, result: ActivityResult) -> bool:
    """Delete the leased request and deliver its result; False if the lease was lost."""
    item = result.work_item
    if tx.execute(q.DELETE_LOCKED_ACTIVITY, tx.hub, item.message_id, item.lock_token) != 1:
        return False
    # A purge deletes an instance's activity work with it, so the delete above
    # succeeding means the instance is still there: no existence check needed.
    instances.insert_message(
        tx, item.instance_id, item.execution_id, result.visible_at, result.event
    )
    tx.notify("orchestration", result.visible_at)
    return True


def abandon(tx: Tx, work_item: ActivityWorkItem, visible_at: _dt.datetime) -> None:
    """End the lease, taking back the delivery it counted; the request is visible again
    at ``visible_at``."""
    visible = to_micros(visible_at)
    if tx.execute(q.ABANDON_ACTIVITY, visible, tx.hub, work_item.message_id, work_item.lock_token):
        tx.notify("activity", visible_at)


def renew(tx: Tx, work_item: ActivityWorkItem, until: _dt.datetime) -> bool:
    """Extend the lease to ``until``; False if it was lost."""
    expires = to_micros(until)
    changed = tx.execute(
        q.RENEW_ACTIVITY, expires, expires, tx.hub, work_item.message_id, work_item.lock_token
    )
    return changed == 1
