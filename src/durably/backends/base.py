"""The storage plug point: the :class:`Backend` protocol and the records it exchanges.

A store keeps four things (durabletask-go's model): instances (one row each, with a lock
owner and a lock expiry), history (instance id, sequence number, event), an inbox of
messages whose ``visible_at`` *is* the timer mechanism, and a queue of activity work.

:class:`Backend` is the core every store implements: 16 methods, each with a one-line
contract naming the error it raises. :class:`FastPaths` are optional methods a store may
add for speed (episodes locked, run and committed in one transaction, commits without a
lock, wake-ups); a store has all of them or none, and
:func:`durably.backends.derived.with_fast_paths` derives them for a core-only store.
Stores never read the clock for decisions: callers pass ``now``. Every store passes the
core checks of ``durably.testing.backend_contract``, and a store with fast paths the
fast-path checks too.

Errors every method may raise: :class:`~durably.errors.StoreError` (the store failed or
is unreachable: driver errors are translated at the store's boundary). A lost lock is
never an error: the methods that need one report the items whose lock was lost
(:class:`~durably.errors.LockLost` semantics: those changed nothing).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from durably.backends._codec import utc
from durably.history import (
    ExecutionStarted,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    TaskCompleted,
    TaskFailed,
)
from durably.versions import InstanceFilter

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
    version: str | None = None
    """The version of the app that started the current execution (None: none given)."""
    waiting: str | None = None
    """Why the instance's work waits for another worker, as a worker noted it with
    :meth:`Backend.note_waiting` (None: no note since the instance's last commit)."""


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
    error: str | None = None
    """Why the stored event could not be read (``event`` is then a placeholder): the
    episode fails its instance with this error and consumes the message."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTask:
    """A request to run an activity, enqueued by an orchestration commit."""

    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None = None
    visible_at: _dt.datetime
    trace_context: str | None = None
    """The W3C traceparent of the orchestration's span (None when nothing is traced)."""


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
    trace_context: str | None = None
    """The W3C traceparent of the orchestration's span (None when nothing is traced)."""


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
    version: str | None = None

    def pending_record(self) -> InstanceRecord:
        """The instance as created (Pending, nothing run), its times as a store gives
        them back (UTC, whole microseconds)."""
        created_time = utc(self.created_time)
        return InstanceRecord(
            instance_id=self.instance_id,
            name=self.name,
            execution_id=self.execution_id,
            runtime_status=OrchestrationRuntimeStatus.Pending,
            input=self.input,
            created_time=created_time,
            last_updated_time=created_time,
            parent_instance_id=self.parent_instance_id,
            version=self.version,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestrationWorkItem:
    """An instance taken for one episode, with the inbox messages visible at that time.

    ``lock_token`` is the lease's token; ``None`` when no lease was written: the
    instance is held by the transaction that runs the episode (:meth:`FastPaths.
    run_episodes`) or not locked at all (an episode run on a worker's memory of it).
    A store never treats ``None`` as a lease: :meth:`Backend.commit_orchestrations`
    reports such a commit lost and :meth:`Backend.abandon_orchestration` ignores it.
    """

    instance: InstanceRecord
    messages: tuple[InboxMessage, ...]
    lock_token: str | None
    dequeue_count: int = 1
    """How many times the instance's work was leased since its last commit, this time
    included: an episode that keeps killing its worker makes it grow (see
    ``max_dequeue_count``)."""


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
    version: str | None = None
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
    """Lock some of ``activities`` for the committing worker (honoured by the fast
    paths; :meth:`Backend.commit_orchestrations` enqueues them all unlocked)."""

    @property
    def finishes(self) -> bool:
        """Whether this commit brings its instance to a terminal status."""
        status = self.runtime_status
        return status.is_terminal and status is not self.work_item.instance.runtime_status

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
            version=self.version,
        )


EpisodeRunner = Callable[[Sequence[OrchestrationWorkItem]], Sequence[OrchestrationCommit]]
"""Runs one episode per locked work item and returns their commits (any order, any subset)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EpisodeBatch:
    """What a fast path (:meth:`FastPaths.run_episodes` & co.) did."""

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
class RecordPage:
    """One page of :meth:`Backend.list_instances`."""

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
    """The core of a store for one task hub. Thread-safe: one object serves a process."""

    # -- instances ---------------------------------------------------------------
    def create_instance(self, instance: NewInstance) -> None:
        """Create the instance (Pending) with its start message, replacing a finished one;
        raises ``InstanceExistsError`` if an active instance has the id."""

    def send_message(self, message: NewMessage) -> None:
        """Add an event to the instance's inbox; raises ``InstanceNotFoundError``."""

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance, or ``None``."""

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The history in sequence order (empty for an unknown instance)."""

    def list_instances(self, query: InstanceQuery) -> RecordPage:
        """A page ordered by (created_time, instance_id); ``ValueError`` for a bad token."""

    def purge_instance(self, instance_id: str) -> bool:
        """Delete a finished instance with everything it owns (False if unknown); raises
        ``InvalidInstanceStateError`` if it is active."""

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete every finished instance matching ``query`` (paging ignored); how many."""

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
        """Lock the free ones of ``instance_ids`` (messages or not), then up to ``limit``
        free instances with a visible message, oldest message first, of those
        ``only`` admits (all without it); each item carries its messages visible at
        ``now`` (an expired lease counts as free) and its ``dequeue_count``, the leases
        since the instance's last commit, this one included."""

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        """Apply every commit (see :class:`OrchestrationCommit`) in one transaction, all
        or none; returns the ids whose lock was lost (LockLost: they changed nothing)."""

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        """Release the lock without consuming anything, taking back the delivery it
        counted (nothing if the lock was lost)."""

    def note_waiting(self, instance_id: str, reason: str) -> None:
        """Note why the work of a Pending or Running instance waits for another worker:
        the records read until its next commit carry ``reason`` as ``waiting``
        (nothing for any other instance)."""

    # -- activity work -----------------------------------------------------------
    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        """Lock up to ``limit`` requests visible at ``now``, oldest first, counting each
        hand-out in ``dequeue_count``; a locked request is visible again at lease expiry."""

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        """Delete each request and add its result to its instance's inbox, atomically;
        returns the ids whose lock was lost (LockLost: those results were dropped)."""

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        """Release the lock, taking back the delivery it counted (the worker reported
        back: it handed the work back unfinished); visible again at ``visible_at``
        (nothing if the lock was lost)."""

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        """Extend the leases to ``until``; returns the ids whose lock was lost."""

    # -- lifecycle ---------------------------------------------------------------
    def close(self) -> None:
        """Release connections; the object is unusable afterwards."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSummary:
    """What the dashboard's summary strip shows, as one store read it."""

    counts: dict[OrchestrationRuntimeStatus, int]
    """Instances by runtime status (absent: none)."""
    started: tuple[int, ...]
    """Instances created per minute over the window, oldest minute first."""
    finished: tuple[int, ...]
    """Instances that finished (Completed, Failed, Terminated) per minute, likewise."""
    oldest_waiting: _dt.datetime | None
    """When the oldest work visible and not taken (a message, an activity) became due."""
    backlog: dict[str, int] = field(default_factory=dict)
    """Work visible and not taken, by kind ("orchestration": messages, "activity")."""
    oldest: dict[str, _dt.datetime | None] = field(default_factory=dict)
    """When the oldest of each kind's backlog became due."""


@runtime_checkable
class Summaries(Protocol):
    """What a store may add for the dashboard: its summary from indexes, not scans."""

    def summarize(self, now: _dt.datetime, minutes: int) -> StoreSummary:
        """Counts by status and the backlog, and the ``minutes`` whole minutes up to
        ``now`` (none: 0, which reads no per-minute figures)."""


@runtime_checkable
class EntityPurging(Protocol):
    """What a store may add to purge durable entities that hold nothing. Clients send to
    entities through :meth:`send_to_entity` then, and commits guard their own sends."""

    def send_to_entity(self, row: NewInstance, message: NewMessage) -> None:
        """Deliver ``message`` to an entity, creating its row (``row``) if it has none,
        at once: never interleaved with a purge of the entity."""

    def purge_entity(self, instance_id: str) -> bool:
        """Delete the entity stored as ``instance_id`` if it has no state, no lock or
        kept messages and nothing in its inbox, in one step that a message sent to it
        meanwhile either precedes (and the entity is kept) or follows (and finds no row,
        so its sender creates the entity again); False if it deleted nothing."""


@runtime_checkable
class FastPaths(Protocol):
    """What a store may add to :class:`Backend` for speed; every method or none.

    The worker uses them when a store has them; :func:`~durably.backends.derived.
    with_fast_paths` derives them from the core otherwise (one transaction per step,
    wake-ups only for this process's own writes, slower but correct).
    """

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
        """Lock as :meth:`Backend.lock_next_orchestrations` (after creating ``create``, as
        :meth:`Backend.create_instance`, raising the same), run ``runner`` on the items
        and commit what it returns, honouring claims, in one transaction where the store
        can; if ``runner`` raises, no episode is committed and the locks are released (a
        store that cannot do it all in one transaction may keep ``create`` created).
        The instances found by ``limit`` are counted deliveries, durably before the
        runner runs (``dequeue_count``); the named ones may be held uncounted.

        ``activities`` are leased requests whose results the runner applies to their
        (named) instances. A named instance is left out of the batch if one of its
        activities is no longer leased by that work item's token: the lease was lost
        and the activity may have run again elsewhere, so its result must go through
        :meth:`Backend.complete_activities`, which drops it (a result from before a
        rewind never lands on the task the rewind reopened)."""

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Apply a commit made without a lock, on the caller's memory of the instance
        (``commit.work_item.instance``, no messages), if the instance is still exactly
        that (same execution, history length and status, no live lease, no message
        visible at ``now``); otherwise write nothing and return ``None``."""

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Create ``new`` as its first episode, run on it before anything was written,
        leaves it (start message consumed, claims honoured); ``None``, writing nothing,
        if any instance has the id."""

    def watch_status(self, instance_id: str) -> AbstractContextManager[StatusWatch]:
        """While open, a commit through this object that finishes the instance sets the
        watch's ``record`` before it wakes the status waiters (no read needed)."""

    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Block until work of ``kind`` may be there or ``timeout`` seconds pass (spurious
        returns allowed: callers look after every return)."""

    def interrupt(self) -> None:
        """Wake every thread of this process blocked in :meth:`wait_for_work`."""


@runtime_checkable
class FastBackend(Backend, FastPaths, Protocol):
    """A store with every fast path, its own or derived: what the worker and client use."""
