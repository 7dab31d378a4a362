"""SqlBackend: the core and the fast paths of a SQL store, on the shared statements.

A database subclasses it and supplies only what truly differs: how to open a write
transaction and a read (connections, isolation, locking mode, cursors with the
capabilities of :class:`~durably.backends.sql.dialect.Cursor`, driver errors translated
into :class:`~durably.errors.StoreError`), and, where it has something better than the
defaults, the hooks below: telling other processes about new work (:meth:`_publish`), a
cheap look before an idle poll (:meth:`_may_have_orchestration_work`) and the wake-up
owed when held instances are released (:meth:`_wake_for_arrivals`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from durably.backends._notify import Notifier
from durably.backends.base import (
    ActivityResult,
    ActivityWorkItem,
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
from durably.backends.sql import activities as activity_work
from durably.backends.sql import instances, picking
from durably.backends.sql.activities import Claimed
from durably.backends.sql.commits import (
    apply_held,
    apply_locked,
    apply_unchanged,
    create_committed,
    ensure_entities,
    notify_if_messages_wait,
)
from durably.backends.sql.dialect import Cursor, Dialect, Disconnected, Refused
from durably.backends.sql.tx import Tx
from durably.errors import InstanceNotFoundError
from durably.history import HistoryEvent
from durably.versions import InstanceFilter

log = logging.getLogger("durably.backends")

T = TypeVar("T")


class SqlBackend:
    """The shared implementation of :class:`~durably.backends.base.Backend` and
    :class:`~durably.backends.base.FastPaths` for SQL stores."""

    reconnect_for: float = 0.0
    """Seconds an operation whose connection broke (:class:`~durably.backends.sql.dialect.
    Disconnected`) is tried again on another one, with backoff (0: never)."""

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

    def _may_have_orchestration_work(self, now: _dt.datetime) -> bool:
        """Whether a batch of episodes may find work; False spares an idle poll its write
        transaction. By default True: a transaction that finds nothing holds nothing."""
        return True

    def _wake_for_arrivals(self, tx: Tx, instance_ids: Sequence[str]) -> None:
        """Releasing instances this transaction held may expose messages that arrived
        meanwhile (another worker, finding them held, passed them by): wake the
        orchestration waiters if there are such."""
        notify_if_messages_wait(tx, instance_ids)

    # -- transactions ------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self, *, durable: bool = True, prompt: bool = False) -> Iterator[Tx]:
        with self._write_cursor(prompt=prompt) if durable else self._lease_cursor() as cursor:
            tx = Tx(cursor, self.dialect, self.task_hub)
            yield tx
            self._publish(tx)
            tx.flush()
        self._notifier.tell_watches(tx.finished)
        for kind, visible_at in tx.notes:
            self._notifier.notify(kind, visible_at=visible_at)
        if tx.created:
            self._grew(tx.created)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tx]:
        with self._read_cursor() as cursor:
            yield Tx(cursor, self.dialect, self.task_hub)

    def _reading(self, read: Callable[[Tx], T]) -> T:
        """``read(tx)`` in a read transaction, tried again while the connection breaks."""
        started, attempt = time.monotonic(), 0
        while True:
            try:
                with self._read() as tx:
                    return read(tx)
            except Disconnected:
                if not self._again(started, attempt):
                    raise
                attempt += 1

    def _writing_once(self, write: Callable[[], T], landed: Callable[[], T | None]) -> T:
        """``write()``, tried again while the connection breaks; before each new try,
        ``landed()`` checks whether the broken one wrote after all (its outcome, or None
        if it did not), so that nothing is written twice."""
        started, attempt = time.monotonic(), 0
        while True:
            try:
                return write()
            except Disconnected:
                while True:
                    if not self._again(started, attempt):
                        raise
                    attempt += 1
                    try:
                        outcome = landed()
                        break
                    except Disconnected:
                        continue
                if outcome is not None:
                    return outcome

    def _again(self, started: float, attempt: int) -> bool:
        """Whether to try once more after a broken connection (having waited a little)."""
        if time.monotonic() - started >= self.reconnect_for:
            return False
        time.sleep(min(0.05 * 2**attempt, 1.0))
        return True

    # -- instances ---------------------------------------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending); ``InstanceExistsError`` if an active one has the id."""
        with self._write(prompt=True) as tx:
            instances.create(tx, instance)

    def send_message(self, message: NewMessage) -> None:
        """Add an event to the instance's inbox; ``InstanceNotFoundError`` if unknown."""
        delivered: list[bool] = []
        with self._write(prompt=True) as tx:
            instances.enqueue(tx, message, delivered.append)
        if not delivered[0]:
            raise InstanceNotFoundError(message.instance_id)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance, or ``None``."""
        return self._reading(lambda tx: instances.select(tx, instance_id))

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The history in sequence order (empty for an unknown instance)."""
        return self._reading(lambda tx: instances.history(tx, instance_id))

    def list_instances(self, query: InstanceQuery) -> RecordPage:
        """A page ordered by (created_time, instance_id); ``ValueError`` for a bad token."""
        if query.page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {query.page_size}")
        return self._reading(lambda tx: instances.page(tx, query))

    def purge_instance(self, instance_id: str) -> bool:
        """Delete a finished instance; ``InvalidInstanceStateError`` for an active one."""

        def purge() -> bool:
            with self._write(prompt=True) as tx:
                return instances.purge(tx, instance_id)

        # A broken purge of an instance that is gone since did delete it.
        return self._writing_once(purge, lambda: None if self.get_instance(instance_id) else True)

    def send_to_entity(self, row: NewInstance, message: NewMessage) -> None:
        """Deliver ``message`` to an entity, creating its row if it has none, in one
        transaction that a purge of the entity cannot interleave with."""
        with self._write(prompt=True) as tx:
            instances.send_to_entity(tx, row, message)

    def purge_entity(self, instance_id: str) -> bool:
        """Delete an entity that holds nothing (:class:`~durably.backends.base.
        EntityPurging`): a message sent meanwhile commits wholly before it (the entity
        is kept) or after it (the sender creates the row again)."""

        def purge() -> bool:
            with self._write(prompt=True) as tx:
                return instances.purge_entity(tx, instance_id)

        return self._writing_once(purge, lambda: None if self.get_instance(instance_id) else True)

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete every finished instance matching ``query`` (paging ignored)."""

        def purge() -> int:
            with self._write(prompt=True) as tx:
                return instances.purge_matching(tx, query)

        return self._writing_once(purge, lambda: None)  # deleting again is harmless

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
        """Lease the free named instances, then up to ``limit`` with visible messages."""
        # Sorted: workers taking overlapping sets take row locks in one order.
        named = sorted(set(instance_ids))
        if not named:
            with self._read() as tx:
                if limit <= 0 or not picking.has_orchestration_work(tx, now):
                    return []
        with self._write(durable=False) as tx:
            return picking.lock(tx, named, owner, now, lease, limit, only=only)

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        """Apply the commits in one transaction; the ids whose lease was lost."""
        if not commits:
            return []
        with self._write() as tx:
            ensure_entities(tx, commits)
            return [
                commit.work_item.instance.instance_id
                for commit in commits
                if not apply_locked(tx, commit)
            ]

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        """Release the lease without consuming anything (nothing if it was lost)."""
        if work_item.lock_token is None:
            return
        with self._write(durable=False) as tx:
            instances.release(tx, work_item.instance.instance_id, work_item.lock_token)

    def summarize(self, now: _dt.datetime, minutes: int) -> StoreSummary:
        """The dashboard's summary (see :class:`~durably.backends.base.Summaries`)."""
        return self._reading(lambda tx: instances.summary(tx, now, minutes))

    def note_waiting(self, instance_id: str, reason: str) -> None:
        """Note why the instance's work waits, until its next commit (see the protocol)."""
        with self._write(durable=False) as tx:
            instances.note_waiting(tx, instance_id, reason)

    # -- activity work -----------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        """Lease up to ``limit`` visible activity requests, oldest first."""
        with self._read() as tx:
            if not activity_work.has_work(tx, now):
                return []
        with self._write(durable=False) as tx:
            return activity_work.lock(tx, owner, now, lease, limit)

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        """Delete each request and deliver its result; the ids whose lease was lost."""
        if not results:
            return []
        with self._write() as tx:
            return [r.work_item.message_id for r in results if not activity_work.complete(tx, r)]

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        """End the lease; the request is visible again at ``visible_at``."""
        with self._write(durable=False) as tx:
            activity_work.abandon(tx, work_item, visible_at)

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        """Extend the leases; the ids whose lease was lost."""
        if not work_items:
            return []
        with self._write(durable=False) as tx:
            return [i.message_id for i in work_items if not activity_work.renew(tx, i, until)]

    # -- fast paths --------------------------------------------------------------
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
        """Hold, run and commit in one durable transaction: one commit per batch of steps.

        The runner runs while the transaction is open (SQLite: holding the write lock;
        PostgreSQL: holding the instances' row locks), so if it raises, the holds are
        rolled back with everything else.
        """
        # Sorted: workers holding overlapping sets take row locks in one order.
        named = sorted({*instance_ids, *([create.instance_id] if create else [])})
        if not named and (limit <= 0 or not self._may_have_orchestration_work(now)):
            return EpisodeBatch()
        # Without named instances (the orchestration loop) the instances found in the
        # inbox are leased first, in a transaction of their own, so that their delivery
        # is counted before any of their code runs (an episode that kills its worker
        # leaves its count behind). Beside named ones (the caller's own activity results,
        # or a new instance) they are held in the same transaction, uncounted: only those
        # no lease has taken since their last commit, so a suspect is left to the loop.
        leased = [] if named else self._lease_others(owner, now, lease, limit, only)
        if not named and not leased:
            return EpisodeBatch()
        try:
            with self._write(prompt=create is not None) as tx:
                items = self._hold(tx, named, leased, now, limit, create, activities, only)
                if not items:
                    return EpisodeBatch()
                claims: Claimed = []
                commits = runner(items)
                ensure_entities(tx, commits)
                for commit in commits:
                    apply_held(tx, commit, claims)
                claimed = activity_work.insert_claimed(tx, claims)  # work items, once committed
                self._wake_for_arrivals(tx, [i.instance.instance_id for i in items])
        except BaseException:
            self._give_back(leased)
            raise
        return EpisodeBatch(items=tuple(items), claimed=tuple(claimed()))

    def _lease_others(
        self,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
        limit: int,
        only: InstanceFilter | None,
    ) -> list[OrchestrationWorkItem]:
        if limit <= 0:
            return []
        with self._write(durable=False) as tx:
            return picking.lock(tx, (), owner, now, lease, limit, only=only)

    def _hold(
        self,
        tx: Tx,
        named: list[str],
        leased: Sequence[OrchestrationWorkItem],
        now: _dt.datetime,
        limit: int,
        create: NewInstance | None,
        activities: Sequence[ActivityWorkItem],
        only: InstanceFilter | None,
    ) -> list[OrchestrationWorkItem]:
        """Hold ``create`` (created now), the free ones of ``named`` (those whose
        ``activities`` are still leased) with up to ``limit`` uncounted others, or
        ``leased``."""
        items = []
        if create is not None:
            created = instances.create_held(tx, create)
            if created is None:  # the id is taken: replace a finished one, or raise
                instances.create(tx, create, announce=False)
            else:
                items.append(created)
                named.remove(create.instance_id)
        if named:
            items += picking.hold(tx, named, now, limit, activities, only)
        return items + picking.hold_leased(tx, leased, now)

    def _give_back(self, leased: Sequence[OrchestrationWorkItem]) -> None:
        """Release leases whose episodes were not committed (their deliveries taken back)."""
        if not leased:
            return
        try:
            with self._write(durable=False) as tx:
                for item in leased:
                    if item.lock_token is not None:
                        instances.release(tx, item.instance.instance_id, item.lock_token)
        except Exception:
            log.warning("could not hand back %d leases; they expire", len(leased), exc_info=True)

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Apply a commit made without a lock if the instance is unchanged; None, with
        nothing written, if it is not (see the protocol)."""
        try:
            with self._write() as tx:
                claims: Claimed = []
                apply_unchanged(tx, commit, now, claims)
                claimed = activity_work.insert_claimed(tx, claims)
                # This transaction's row lock may have made another worker pass it by.
                self._wake_for_arrivals(tx, [commit.work_item.instance.instance_id])
        except Refused:
            return None
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed()))

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Create ``new`` as its first episode's ``commit`` leaves it, if the id is
        free; None, with nothing written, if it is not (see the protocol)."""
        try:
            with self._write(prompt=True) as tx:
                claims: Claimed = []
                create_committed(tx, new, commit, claims)
                claimed = activity_work.insert_claimed(tx, claims)
        except Refused:
            return None
        return EpisodeBatch(items=(commit.work_item,), claimed=tuple(claimed()))

    def watch_status(self, instance_id: str) -> AbstractContextManager[StatusWatch]:
        """See :meth:`FastPaths.watch_status`: filled in by this object's commits."""
        return self._notifier.watch(instance_id)

    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Block until this process committed work of ``kind``, or ``timeout`` seconds pass."""
        self._notifier.wait(kind, timeout)

    def interrupt(self) -> None:
        """Wake every waiter of this process now (a stopping worker)."""
        self._notifier.notify_all()
