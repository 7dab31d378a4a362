"""Applying an episode's commit, in one of four ways (each inside a Tx).

* :func:`apply_locked`: the instance was leased in an earlier transaction; the lease's
  token guards the write (``Backend.commit_orchestrations``).
* :func:`apply_held`: the instance is held by this same transaction, so nothing can
  have changed it (``FastPaths.run_episodes``).
* :func:`apply_unchanged`: nobody took the instance; the write is refused unless the
  instance is still as the worker last left it (``FastPaths.commit_if_unchanged``).
* :func:`create_committed`: the instance is created as its first episode left it,
  refused if the id is taken (``FastPaths.create_and_commit``).

After the instance row (and the messages the episode consumed), every way writes the
same: history, the activity work, messages and new instances.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from durably.backends._codec import to_micros
from durably.backends.base import NewInstance, OrchestrationCommit
from durably.backends.sql import activities, instances, rows
from durably.backends.sql import statements as q
from durably.backends.sql.activities import Claimed
from durably.backends.sql.tx import Tx
from durably.entities.ids import is_entity
from durably.errors import InstanceExistsError


def apply_locked(tx: Tx, commit: OrchestrationCommit) -> bool:
    """Apply a leased instance's commit; False, writing nothing, if the lease was lost.
    Claims are ignored (every activity is queued unleased)."""
    token = commit.work_item.lock_token
    if token is None:
        return False
    step = _is_step(commit)
    statement = q.UPDATE_LOCKED_AFTER_STEP if step else q.UPDATE_LOCKED_AFTER_EPISODE
    if tx.execute(statement, *_row_update(tx, commit, step), token) != 1:
        return False
    _consume(tx, commit)
    _episode_writes(tx, commit, None)
    # Releasing the lease may expose messages that arrived during the episode.
    notify_if_messages_wait(tx, [commit.work_item.instance.instance_id])
    return True


def apply_held(tx: Tx, commit: OrchestrationCommit, claims: Claimed) -> None:
    """Apply the commit of an instance this transaction holds (nothing to check: the
    writes are only sent, never waited for)."""
    step = _is_step(commit)
    statement = q.UPDATE_HELD_AFTER_STEP if step else q.UPDATE_HELD_AFTER_EPISODE
    tx.executemany(statement, [_row_update(tx, commit, step)])
    _consume(tx, commit)
    _episode_writes(tx, commit, claims)


def apply_unchanged(
    tx: Tx, commit: OrchestrationCommit, now: _dt.datetime, claims: Claimed
) -> None:
    """Apply a commit made without a lock if the instance is unchanged, with no live
    lease and no message visible at ``now``; otherwise the transaction is refused."""
    seen = commit.work_item.instance
    at = to_micros(now)
    status = seen.runtime_status.value
    guard = (seen.execution_id, seen.history_length, status, at, tx.hub, seen.instance_id, at)
    step = _is_step(commit)
    statement = q.UPDATE_UNCHANGED_AFTER_STEP if step else q.UPDATE_UNCHANGED_AFTER_EPISODE
    tx.write_or_refuse(statement, *_row_update(tx, commit, step), *guard)
    _consume(tx, commit)
    _episode_writes(tx, commit, claims)


def create_committed(
    tx: Tx, new: NewInstance, commit: OrchestrationCommit, claims: Claimed
) -> None:
    """Create ``new`` as its first episode's ``commit`` leaves it (its start message is
    never stored); the transaction is refused if another instance has the id."""
    tx.write_or_refuse(q.INSERT_COMMITTED_INSTANCE, *rows.committed_instance(tx.hub, new, commit))
    tx.created += 1
    _episode_writes(tx, commit, claims)


def notify_if_messages_wait(tx: Tx, instance_ids: Sequence[str]) -> None:
    """Wake orchestration waiters if one of these instances (about to be released) has
    messages: ones that arrived while they were taken. Any message counts, visible or
    not: one that arrived during the episode is typically stamped later than its now."""
    if instance_ids:
        statement = q.has_messages(len(instance_ids))
        tx.notify_if_found("orchestration", statement, tx.hub, *instance_ids)


def _is_step(commit: OrchestrationCommit) -> bool:
    """Whether the commit changes only what an ordinary step changes (see statements)."""
    old = commit.work_item.instance
    return (
        commit.runtime_status is old.runtime_status
        and commit.name == old.name
        and commit.execution_id == old.execution_id
        and commit.input == old.input
        and commit.version == old.version
    )


def _row_update(tx: Tx, commit: OrchestrationCommit, step: bool) -> tuple[Any, ...]:
    """The SET values and the key of the instance row's UPDATE (step or episode shape)."""
    old = commit.work_item.instance
    start = 0 if commit.reset_history else old.history_length
    common = (
        commit.output,
        commit.custom_status,
        to_micros(commit.last_updated_time),
        start + len(commit.new_events),
        tx.hub,
        old.instance_id,
    )
    if step:
        return common
    changed = (
        commit.name,
        commit.execution_id,
        commit.runtime_status.value,
        commit.input,
        commit.version,
        rows.key_of(commit.version),
    )
    return (*changed, *common)


def _consume(tx: Tx, commit: OrchestrationCommit) -> None:
    """Delete the messages the episode consumed, and the history it replaces."""
    item = commit.work_item
    instance_id = item.instance.instance_id
    tx.executemany(q.DELETE_MESSAGE, [(tx.hub, instance_id, m.message_id) for m in item.messages])
    if commit.reset_history:
        tx.execute(q.DELETE_HISTORY, tx.hub, instance_id)


def ensure_entities(tx: Tx, commits: Sequence[OrchestrationCommit]) -> None:
    """Make sure of the rows of the entities the commits send to, in one global order
    (by instance id) for the whole transaction: two transactions that create the same
    new entities never wait on each other's inserts in opposite orders."""
    rows = {
        new.instance_id: new
        for commit in commits
        for new in commit.new_instances
        if is_entity(new.instance_id)
    }
    for instance_id in sorted(rows):
        instances.ensure_entity(tx, rows[instance_id])


def _episode_writes(tx: Tx, commit: OrchestrationCommit, claims: Claimed | None) -> None:
    """What every commit writes after its instance row (and its consumed messages)."""
    instance_id = commit.work_item.instance.instance_id
    start = 0 if commit.reset_history else commit.work_item.instance.history_length
    if commit.new_events:
        history = (tx.hub, instance_id, start, rows.history_text(commit.new_events, commit.input))
        tx.executemany(q.INSERT_HISTORY, [history])
    ensure_entities(tx, [commit])
    for new in commit.new_instances:
        if is_entity(new.instance_id):
            continue
        try:
            instances.create(tx, new)
        except InstanceExistsError:
            if new.on_conflict is not None:
                instances.enqueue(tx, new.on_conflict)
    activities.queue(tx, commit, claims)
    for message in commit.messages:
        if message.instance_id == instance_id:  # its own row is ours: it exists
            instances.insert_message(
                tx, instance_id, message.execution_id, message.visible_at, message.event
            )
            tx.notify("orchestration", message.visible_at)
        else:
            instances.enqueue(tx, message)
    if commit.finishes:
        tx.notify("status")
        tx.finished.append(commit)
