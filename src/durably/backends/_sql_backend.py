"""SqlBackend: the Backend protocol on top of the shared SQL operations.

A database backend subclasses it and supplies only what truly differs: how to open a
write transaction and a read cursor (connections, isolation, locking mode, translation
of driver errors into :class:`~durably.errors.StoreError`), and optionally how to tell
other processes about new work (:meth:`SqlBackend._publish`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from durably.backends import _sql_ops as ops
from durably.backends._codec import utc
from durably.backends._notify import Notifier
from durably.backends._sql import Cursor, Dialect, Tx
from durably.backends.base import (
    ActivityResult,
    ActivityWorkItem,
    EpisodeBatch,
    EpisodeRunner,
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
from durably.errors import InstanceNotFoundError
from durably.history import HistoryEvent


class SqlBackend:
    """The shared implementation of :class:`~durably.backends.base.Backend` for SQL stores."""

    def __init__(self, *, dialect: Dialect, task_hub: str) -> None:
        self.dialect = dialect
        self.task_hub = task_hub
        self._notifier = Notifier()

    # -- what a database supplies ------------------------------------------------
    def _write_cursor(self, *, prompt: bool = False) -> AbstractContextManager[Cursor]:
        """A cursor inside a write transaction: committed on exit, rolled back on error.

        ``prompt``: a caller is waiting on this write alone (a client call), so a
        database that shares commits between writers (SQLite) commits it as soon as it
        is done instead of waiting for a worker's writes queued behind it to join.
        """
        raise NotImplementedError

    def _lease_cursor(self) -> AbstractContextManager[Cursor]:
        """A write transaction that only takes, renews or releases leases.

        Losing such a commit in a crash is harmless (a lease that was never recorded is
        just free), so a database may skip flushing it to disk; by default it is an
        ordinary write transaction.
        """
        return self._write_cursor()

    def _read_cursor(self) -> AbstractContextManager[Cursor]:
        """A cursor for consistent single-statement reads."""
        raise NotImplementedError

    def _publish(self, tx: Tx) -> None:
        """Tell other processes about ``tx.notes`` before the commit (PostgreSQL: NOTIFY)."""

    def _grew(self, created: int) -> None:
        """A committed transaction created ``created`` instances (PostgreSQL: statistics)."""

    @contextlib.contextmanager
    def _write(self, *, durable: bool = True, prompt: bool = False) -> Iterator[Tx]:
        with self._write_cursor(prompt=prompt) if durable else self._lease_cursor() as cursor:
            tx = Tx(cursor, self.dialect, self.task_hub)
            yield tx
            self._publish(tx)
            tx.flush()
        for commit in tx.finished:
            if self._notifier.watched(commit.work_item.instance.instance_id):
                record = commit.committed_record()
                stamp = utc(record.last_updated_time)  # as the store gives it back
                self._notifier.finished(dataclasses.replace(record, last_updated_time=stamp))
        for kind, visible_at in tx.notes:
            self._notifier.notify(kind, visible_at=visible_at)
        if tx.created:
            self._grew(tx.created)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tx]:
        with self._read_cursor() as cursor:
            yield Tx(cursor, self.dialect, self.task_hub)

    # -- client side -------------------------------------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending); raises ``InstanceExistsError`` if it is active."""
        with self._write(prompt=True) as tx:
            ops.create_instance(tx, instance)

    def send_message(self, message: NewMessage) -> None:
        """Enqueue an event; raises ``InstanceNotFoundError`` for an unknown instance."""
        delivered: list[bool] = []
        with self._write(prompt=True) as tx:
            ops.enqueue(tx, message, delivered.append)
        if not delivered[0]:
            raise InstanceNotFoundError(message.instance_id)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance row, or ``None``."""
        with self._read() as tx:
            return ops.select_instance(tx, instance_id)

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The history in sequence order (empty for an unknown instance)."""
        with self._read() as tx:
            return ops.select_history(tx, instance_id)

    def list_instances(self, query: InstanceQuery) -> InstancePage:
        """A page of instances ordered by (created_time, instance_id)."""
        if query.page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {query.page_size}")
        with self._read() as tx:
            return ops.list_instances(tx, query)

    def purge_instance(self, instance_id: str) -> bool:
        """Delete a terminal instance; raises ``InvalidInstanceStateError`` for an active one."""
        with self._write(prompt=True) as tx:
            return ops.purge_instance(tx, instance_id)

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete every terminal instance matching ``query`` (paging ignored)."""
        with self._write(prompt=True) as tx:
            return ops.purge_instances(tx, query)

    # -- orchestration work ------------------------------------------------------
    def lock_next_orchestrations(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[OrchestrationWorkItem]:
        """Lock up to ``limit`` instances with visible messages, oldest message first."""
        with self._read() as tx:
            if not ops.has_orchestration_work(tx, now):
                return []
        with self._write(durable=False) as tx:
            return ops.lock_orchestrations(tx, owner, now, lease, limit)

    def lock_instances(
        self,
        instance_ids: Sequence[str],
        *,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
    ) -> list[OrchestrationWorkItem]:
        """Lock those of the named instances whose lock is free or expired."""
        if not instance_ids:
            return []
        # Sorted: two workers locking overlapping sets take row locks in the same order.
        names = sorted(set(instance_ids))
        with self._write(durable=False) as tx:
            return ops.lock_named(tx, names, owner, now, lease)

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
        """Lock, run and commit in one durable transaction: one commit per batch of steps.

        The runner runs while the transaction is open (SQLite: holding the write lock;
        PostgreSQL: holding the instances' row locks), so if it raises, the locks are
        rolled back with everything else.
        """
        named = sorted({*(instance_ids or ()), *([create.instance_id] if create else [])})
        if not named and limit <= 0:
            return EpisodeBatch()
        if not named and self.dialect.serial_writes:
            # SQLite: a read spares an idle poll the database-wide write lock. (A
            # PostgreSQL transaction that finds nothing locks nothing: no need.)
            with self._read() as tx:
                if not ops.has_orchestration_work(tx, now):
                    return EpisodeBatch()
        with self._write(prompt=create is not None) as tx:
            items = []
            if create is not None:
                created = ops.create_held(tx, create)
                if created is None:  # the id is taken: replace a finished one, or raise
                    ops.create_instance(tx, create, notify=False)
                else:
                    items.append(created)
                    named.remove(create.instance_id)
            if named or limit > 0:
                # Sorted: workers locking overlapping sets take row locks in one order.
                items += ops.hold_work(tx, named, now, limit)
            if not items:
                return EpisodeBatch()
            claims: ops.Claimed = []
            for commit in runner(items):
                # Held above in this transaction: the lock cannot have been lost.
                ops.apply_commit(tx, commit, claims, held=True)
            claimed = ops.insert_claimed(tx, claims)  # the work items, once committed
            # Unlocking may expose messages that arrived meanwhile: with serial writes
            # none can have (locked in this very transaction).
            if not self.dialect.serial_writes:
                ops.notify_if_messages_wait(tx, [i.instance.instance_id for i in items])
        return EpisodeBatch(items=tuple(items), claimed=tuple(claimed()))

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Apply ``commit`` to an instance nobody locked if it is still as the work
        item shows it; None, with nothing written, if it is not (see the protocol)."""
        instance_id = commit.work_item.instance.instance_id
        with self._write() as tx:
            claims: ops.Claimed = []
            if not ops.apply_commit(tx, commit, claims, unchanged_at=now):
                return None
            claimed = ops.insert_claimed(tx, claims)
            if not self.dialect.serial_writes:
                # Our row lock may have made another worker pass the instance by.
                ops.notify_if_messages_wait(tx, [instance_id])
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed()))

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Create ``new`` as its first episode's ``commit`` leaves it, if the id is
        free; None, with nothing written, if it is not (see the protocol)."""
        with self._write(prompt=True) as tx:
            claims: ops.Claimed = []
            if not ops.create_committed(tx, new, commit, claims):
                return None
            claimed = ops.insert_claimed(tx, claims)
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed()))

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        """Apply the commits in one transaction; returns the ids whose lock was lost."""
        if not commits:
            return []
        with self._write() as tx:
            return [
                commit.work_item.instance.instance_id
                for commit in commits
                if not ops.apply_commit(tx, commit)
            ]

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        """Release the lock without consuming anything (no-op if the lock was lost)."""
        with self._write(durable=False) as tx:
            ops.release_instance(tx, work_item)

    def renew_orchestration_locks(
        self, work_items: Sequence[OrchestrationWorkItem], *, until: _dt.datetime
    ) -> list[str]:
        """Extend the leases; returns the instance ids whose lock was lost."""
        if not work_items:
            return []
        with self._write(durable=False) as tx:
            return [
                item.instance.instance_id
                for item in work_items
                if not ops.renew_instance(tx, item, until)
            ]

    # -- activity work -----------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        """Lock up to ``limit`` visible activity requests, oldest first."""
        with self._read() as tx:
            if not ops.has_activity_work(tx, now):
                return []
        with self._write(durable=False) as tx:
            return ops.lock_activities(tx, owner, now, lease, limit)

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        """Delete each request and deliver its result; returns ids whose lock was lost."""
        if not results:
            return []
        with self._write() as tx:
            return [r.work_item.message_id for r in results if not ops.complete_activity(tx, r)]

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        """Release the lock; the request is visible again at ``visible_at``."""
        with self._write(durable=False) as tx:
            ops.abandon_activity(tx, work_item, visible_at)

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        """Extend the leases; returns the message ids whose lock was lost."""
        if not work_items:
            return []
        with self._write(durable=False) as tx:
            return [i.message_id for i in work_items if not ops.renew_activity(tx, i, until)]

    # -- wake-ups ----------------------------------------------------------------
    def interrupt(self) -> None:
        """Wake every waiter of this process now (a stopping worker)."""
        self._notifier.notify_all()

    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Block until this process committed work of ``kind``, or ``timeout`` seconds pass."""
        self._notifier.wait(kind, timeout)

    def watch_status(self, instance_id: str) -> AbstractContextManager[StatusWatch]:
        """See :meth:`Backend.watch_status`: filled in by this object's commits."""
        return self._notifier.watch(instance_id)
