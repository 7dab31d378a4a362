"""The storage plug point: the :class:`Backend` protocol and the records it exchanges.

A backend stores four things (durabletask-go's model): instances (one row each, with a
lock owner and a lock expiry), history (instance id, sequence number, event), an inbox
of messages for instances whose ``visible_at`` *is* the timer mechanism, and a queue of
activity work. Backends never read the clock for decisions: callers pass ``now``.
Every backend passes ``durably.testing.backend_contract``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from durably.history import (
    ExecutionStarted,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    TaskCompleted,
    TaskFailed,
)

WorkKind = Literal["orchestration", "activity", "status"]
"""What a waiter waits for: orchestration messages, activity work, or instances reaching a
terminal status (or being created)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceRecord:
    """One orchestration instance as stored (payloads are JSON text)."""

    instance_id: str
    name: str
    execution_id: str
    runtime_status: OrchestrationRuntimeStatus
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    created_time: _dt.datetime
    last_updated_time: _dt.datetime
    parent_instance_id: str | None = None
    history_length: int = 0
    """Number of events in the history; the next event gets this sequence number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """An event for an instance's inbox, visible from ``visible_at`` (timers: the fire time).

    ``execution_id`` names the execution (generation) the message belongs to; ``None``
    means whichever execution is current when it is processed.
    """

    instance_id: str
    event: HistoryEvent
    visible_at: _dt.datetime
    execution_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxMessage:
    """A message read from an inbox, with the id used to consume it."""

    message_id: int
    event: HistoryEvent
    execution_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTask:
    """A request to run an activity, enqueued by an orchestration commit."""

    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None = None
    visible_at: _dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityWorkItem:
    """A locked activity request."""

    message_id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None = None
    lock_token: str
    dequeue_count: int = 1
    """How many times this request was handed out (1 on the first try)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityResult:
    """The outcome of an activity, delivered to its instance's inbox."""

    work_item: ActivityWorkItem
    event: TaskCompleted | TaskFailed
    visible_at: _dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewInstance:
    """An instance to create, with its ExecutionStarted message.

    If the id belongs to an instance that is Pending, Running, Suspended or
    ContinuedAsNew, creation fails: :meth:`Backend.create_instance` raises
    ``InstanceExistsError``; inside a commit, ``on_conflict`` (if any) is delivered
    instead. A terminal instance with the id is replaced (its history, inbox and
    activity work are deleted).
    """

    instance_id: str
    name: str
    execution_id: str
    input: str | None = None
    parent_instance_id: str | None = None
    created_time: _dt.datetime
    start_event: ExecutionStarted
    visible_at: _dt.datetime
    """When the ExecutionStarted message becomes visible (a scheduled start)."""
    on_conflict: NewMessage | None = None

    def pending_record(self, created_time: _dt.datetime) -> InstanceRecord:
        """The instance as created (Pending, nothing run), stamped ``created_time``
        (``created_time`` as the store gives it back)."""
        return InstanceRecord(
            instance_id=self.instance_id,
            name=self.name,
            execution_id=self.execution_id,
            runtime_status=OrchestrationRuntimeStatus.Pending,
            input=self.input,
            created_time=created_time,
            last_updated_time=created_time,
            parent_instance_id=self.parent_instance_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestrationWorkItem:
    """An instance locked for one episode, with the inbox messages visible at lock time."""

    instance: InstanceRecord
    messages: tuple[InboxMessage, ...]
    lock_token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityClaim:
    """Enqueue the first ``count`` activities of a commit already locked by ``owner``.

    The worker that ran the episode runs them itself, without polling for them; they
    are ordinary locked requests (``dequeue_count`` 1, visible again at ``expires``), so
    if that worker dies, another takes them when the lease runs out.
    """

    owner: str
    lock_token: str
    expires: _dt.datetime
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestrationCommit:
    """Everything one episode writes, applied in one transaction.

    Consumes the work item's messages, appends ``new_events`` to history (after
    deleting the old history when ``reset_history``), updates the instance row,
    creates ``new_instances``, enqueues ``activities`` and ``messages``, and releases
    the lock.
    """

    work_item: OrchestrationWorkItem
    new_events: tuple[HistoryEvent, ...] = ()
    reset_history: bool = False
    runtime_status: OrchestrationRuntimeStatus
    execution_id: str
    name: str
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    last_updated_time: _dt.datetime
    activities: tuple[ActivityTask, ...] = ()
    messages: tuple[NewMessage, ...] = ()
    new_instances: tuple[NewInstance, ...] = ()
    completed_activities: tuple[int, ...] = ()
    """Activity work (message ids) whose results this episode applied directly, without
    going through the inbox: deleted by the commit, whoever holds their lease."""
    claim: ActivityClaim | None = None
    """Lock some of ``activities`` for the committing worker (honoured by
    :meth:`Backend.run_episodes` only)."""

    def committed_record(self) -> InstanceRecord:
        """The instance as this commit leaves it (``last_updated_time`` as given)."""
        old = self.work_item.instance
        start = 0 if self.reset_history else old.history_length
        return InstanceRecord(
            instance_id=old.instance_id,
            name=self.name,
            execution_id=self.execution_id,
            runtime_status=self.runtime_status,
            input=self.input,
            output=self.output,
            custom_status=self.custom_status,
            created_time=old.created_time,
            last_updated_time=self.last_updated_time,
            parent_instance_id=old.parent_instance_id,
            history_length=start + len(self.new_events),
        )


EpisodeRunner = Callable[[Sequence[OrchestrationWorkItem]], Sequence[OrchestrationCommit]]
"""Runs one episode per locked work item and returns their commits (any order, any subset)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EpisodeBatch:
    """What :meth:`Backend.run_episodes` did."""

    items: tuple[OrchestrationWorkItem, ...] = ()
    """The work items it locked and handed to the runner."""
    lost: frozenset[str] = frozenset()
    """Instance ids whose commit found its lock token changed: those changed nothing."""
    claimed: tuple[ActivityWorkItem, ...] = ()
    """The activity requests enqueued locked for the caller (see :class:`ActivityClaim`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceQuery:
    """Filters for :meth:`Backend.list_instances`; ``None`` means no filter."""

    runtime_status: frozenset[OrchestrationRuntimeStatus] | None = None
    name: str | None = None
    instance_id_prefix: str | None = None
    created_time_from: _dt.datetime | None = None
    created_time_to: _dt.datetime | None = None
    page_size: int = 100
    continuation_token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InstancePage:
    instances: tuple[InstanceRecord, ...]
    continuation_token: str | None = None
    """Opaque; ``None`` on the last page."""


@dataclass(slots=True)
class StatusWatch:
    """What one waiter learns about an instance from its own backend object's commits.

    Mutable on purpose: it is the mailbox :meth:`Backend.watch_status` fills in.
    """

    instance_id: str
    record: InstanceRecord | None = None
    """The instance as committed when it reached a terminal status (set before the
    status waiters wake), if a commit made through this backend object finished it
    while the watch was open; otherwise None."""


@dataclass(slots=True, kw_only=True)
class BackendOptions:
    """Settings every backend understands (parsed from the store URL's query string)."""

    task_hub: str = "default"
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """Durable storage for one task hub. Thread-safe: one object serves a whole process.

    Errors: driver errors are translated to :class:`durably.errors.StoreError`.
    """

    # -- client side -------------------------------------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending) and enqueue its ExecutionStarted message.

        Raises ``InstanceExistsError`` if an active instance has the id.
        """

    def send_message(self, message: NewMessage) -> None:
        """Enqueue an event for an instance. Raises ``InstanceNotFoundError``."""

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance row, or ``None``."""

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The history in sequence order (empty for an unknown instance)."""

    def list_instances(self, query: InstanceQuery) -> InstancePage:
        """A page of instances ordered by (created_time, instance_id)."""

    def purge_instance(self, instance_id: str) -> bool:
        """Delete a terminal instance with its history, inbox and activity work.

        Returns False if there is no such instance. Raises ``InvalidInstanceStateError``
        if it is not terminal.
        """

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete every terminal instance matching ``query`` (paging ignored); the count."""

    # -- orchestration work ------------------------------------------------------
    def lock_next_orchestrations(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[OrchestrationWorkItem]:
        """Lock up to ``limit`` instances that have visible messages and no live lock.

        A lock whose expiry passed may be taken over (its holder's commit then fails).
        Each item carries the instance's messages visible at ``now``, oldest first.
        """

    def lock_instances(
        self,
        instance_ids: Sequence[str],
        *,
        owner: str,
        now: _dt.datetime,
        lease: _dt.timedelta,
    ) -> list[OrchestrationWorkItem]:
        """Lock those of the named instances whose lock is free or expired.

        Each item carries the instance's visible messages (possibly none). Unknown and
        busy instances are left out. Used to run an episode right where an activity
        result was produced.
        """

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
        """Lock, run and commit episodes, in one transaction where the store can.

        With ``create``, that instance is created first (as :meth:`create_instance`,
        raising ``InstanceExistsError`` the same way) and is one of the named instances.

        Locks the named ``instance_ids`` that are free (as :meth:`lock_instances`) and
        up to ``limit`` other instances with visible messages (as
        :meth:`lock_next_orchestrations`); calls ``runner`` with all the work items;
        applies the commits it returns (as :meth:`commit_orchestrations`, honouring
        each commit's ``claim``). If ``runner`` raises, nothing is committed and the
        locks are released.
        """

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Apply ``commit`` to an instance nobody locked: an episode run on the
        caller's own memory of the instance (``commit.work_item.instance``, with no
        messages), which is the episode a lock would have run if the instance is still
        as remembered: same execution id, history length and runtime status, no live
        lease at ``now``, and no message visible at ``now``.

        Then it applies the commit atomically as :meth:`run_episodes` would (its
        ``completed_activities`` are deleted, its ``claim`` honoured) and returns the
        batch (``items`` is the work item, ``claimed`` the claimed activities).
        Otherwise it writes nothing and returns None: the caller runs the episode the
        ordinary way.
        """

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Create ``new`` as its first episode leaves it, in one transaction: the
        episode ran before anything was written, on ``commit.work_item`` (the instance
        as created, Pending, with its start message), and the store ends up as after
        :meth:`create_instance` and :meth:`run_episodes` of that episode (the start
        message consumed; ``claim`` honoured).

        Returns the batch, or None, with nothing written, if an instance (active or
        finished) has the id: the caller then creates it the ordinary way.
        """

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        """Apply each commit atomically (all in one transaction when possible).

        Returns the instance ids whose lock token no longer matched: those commits
        changed nothing (``LockLost`` semantics, per item).
        """

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        """Release the lock without consuming anything (no-op if the lock was lost)."""

    def renew_orchestration_locks(
        self, work_items: Sequence[OrchestrationWorkItem], *, until: _dt.datetime
    ) -> list[str]:
        """Extend the leases; returns the instance ids whose lock was lost."""

    # -- activity work -----------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        """Lock up to ``limit`` visible activity requests whose lock is free or expired."""

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        """Delete each request and enqueue its result into the instance's inbox, atomically.

        Returns the message ids whose lock was lost: those results were dropped.
        """

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        """Release the lock; the request is visible again at ``visible_at``."""

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        """Extend the leases; returns the message ids whose lock was lost."""

    # -- wake-ups and lifecycle --------------------------------------------------
    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Block until work of ``kind`` may be available, or ``timeout`` seconds pass.

        Spurious returns are allowed; callers poll after every return.
        """

    def interrupt(self) -> None:
        """Wake every thread of this process blocked in :meth:`wait_for_work` now."""

    def watch_status(self, instance_id: str) -> AbstractContextManager[StatusWatch]:
        """While the block runs, a commit this process makes through this store that
        brings the instance to a terminal status sets the watch's ``record`` before it
        wakes the status waiters, so a waiter needs no read to learn the outcome.
        Commits by other processes only wake the waiters, as always.
        """

    def close(self) -> None:
        """Release connections; the object is unusable afterwards."""
