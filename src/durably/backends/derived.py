"""Fast paths derived from the core, for a store that implements only :class:`Backend`.

:func:`with_fast_paths` returns a store that has its own fast paths as it is, and wraps a
core-only store in a :class:`DerivedFastPaths`: core calls go through to the store, and
the fast paths are made of core calls. Episodes are locked, run and committed in three
steps instead of one transaction; a commit without a lock is always declined (the caller
then takes the ordinary path); wake-ups come from the writes this process makes through
the wrapper, and the writes of other processes are found when a waiter's timeout (the
worker's poll interval) runs out. Slower than a store's own fast paths, never less
correct.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import cast

from durably.backends._notify import Notifier
from durably.backends.base import (
    ActivityResult,
    ActivityWorkItem,
    Backend,
    EpisodeBatch,
    EpisodeRunner,
    FastBackend,
    FastPaths,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
    RecordPage,
    StatusWatch,
    WorkKind,
)
from durably.history import HistoryEvent
from durably.versions import InstanceFilter

Committed = tuple[list[str], list[ActivityWorkItem]]
"""What applying a batch of commits did: the ids whose lock was lost, the claimed work."""
CommitBatch = Callable[[Sequence[OrchestrationCommit]], Committed]


def with_fast_paths(backend: Backend) -> FastBackend:
    """``backend`` if it has its own fast paths, else a :class:`DerivedFastPaths` on it.

    Each call wraps anew: share the result (``worker.client()`` shares the worker's) so
    that waits are woken by this process's writes rather than found by polling.
    """
    if isinstance(backend, FastPaths):
        return cast(FastBackend, backend)
    return DerivedFastPaths(backend)


def run_episodes_in_steps(
    backend: Backend,
    runner: EpisodeRunner,
    commit: CommitBatch,
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
    """:meth:`FastPaths.run_episodes` made of core steps: create, lock, run the episodes,
    then ``commit`` them. If the runner or the commit raises, the leases are released
    (an abandon after a commit that did land changes nothing); ``create`` stays created,
    and its instance runs later like any other. The leases of ``activities`` are renewed
    for ``lease`` first: the instances of those lost are left out."""
    named = list(instance_ids)
    if activities:
        gone = set(backend.renew_activity_locks(activities, until=now + lease))
        stale = {a.instance_id for a in activities if a.message_id in gone}
        if stale:  # left out, and not to be found among the others either
            named = [instance_id for instance_id in named if instance_id not in stale]
            limit = 0
    if create is not None:
        backend.create_instance(create)
        named.append(create.instance_id)
    items = backend.lock_next_orchestrations(
        owner=owner, now=now, lease=lease, limit=limit, instance_ids=named, only=only
    )
    if not items:
        return EpisodeBatch()
    try:
        lost, claimed = commit(runner(items))
    except BaseException:
        for item in items:
            backend.abandon_orchestration(item)
        raise
    return EpisodeBatch(items=tuple(items), lost=frozenset(lost), claimed=tuple(claimed))


class DerivedFastPaths:
    """A core-only store with the fast paths made of its core methods."""

    def __init__(self, core: Backend) -> None:
        self.core = core
        self._notifier = Notifier()

    def __repr__(self) -> str:
        return f"DerivedFastPaths({self.core!r})"

    # -- the core, with wake-ups for this process's writes -------------------------
    def create_instance(self, instance: NewInstance) -> None:
        self.core.create_instance(instance)
        self._notifier.notify("orchestration", visible_at=instance.visible_at)

    def send_message(self, message: NewMessage) -> None:
        self.core.send_message(message)
        self._notifier.notify("orchestration", visible_at=message.visible_at)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return self.core.get_instance(instance_id)

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return self.core.get_history(instance_id)

    def list_instances(self, query: InstanceQuery) -> RecordPage:
        return self.core.list_instances(query)

    def purge_instance(self, instance_id: str) -> bool:
        purged = self.core.purge_instance(instance_id)
        self._notifier.notify("status")
        return purged

    def purge_instances(self, query: InstanceQuery) -> int:
        count = self.core.purge_instances(query)
        self._notifier.notify("status")
        return count

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
        return self.core.lock_next_orchestrations(
            owner=owner,
            now=now,
            lease=lease,
            limit=limit,
            instance_ids=instance_ids,
            only=only,
        )

    def commit_orchestrations(self, commits: Sequence[OrchestrationCommit]) -> list[str]:
        lost = self.core.commit_orchestrations(commits)
        self._committed([c for c in commits if c.work_item.instance.instance_id not in lost])
        return lost

    def abandon_orchestration(self, work_item: OrchestrationWorkItem) -> None:
        self.core.abandon_orchestration(work_item)
        self._notifier.notify("orchestration")

    def note_waiting(self, instance_id: str, reason: str) -> None:
        self.core.note_waiting(instance_id, reason)

    def lock_next_activities(
        self, *, owner: str, now: _dt.datetime, lease: _dt.timedelta, limit: int
    ) -> list[ActivityWorkItem]:
        return self.core.lock_next_activities(owner=owner, now=now, lease=lease, limit=limit)

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        lost = self.core.complete_activities(results)
        for result in results:
            self._notifier.notify("orchestration", visible_at=result.visible_at)
        return lost

    def abandon_activity(self, work_item: ActivityWorkItem, *, visible_at: _dt.datetime) -> None:
        self.core.abandon_activity(work_item, visible_at=visible_at)
        self._notifier.notify("activity", visible_at=visible_at)

    def renew_activity_locks(
        self, work_items: Sequence[ActivityWorkItem], *, until: _dt.datetime
    ) -> list[int]:
        return self.core.renew_activity_locks(work_items, until=until)

    def close(self) -> None:
        self.core.close()
        self._notifier.notify_all()

    # -- the fast paths ------------------------------------------------------------
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
        """Create, lock, run and commit in steps; claims are not honoured (the activities
        go through the queue)."""
        return run_episodes_in_steps(
            self,
            runner,
            lambda commits: (self.commit_orchestrations(commits), []),
            owner=owner,
            now=now,
            lease=lease,
            limit=limit,
            instance_ids=instance_ids,
            create=create,
            activities=activities,
            only=only,
        )

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        """Always declined: the core cannot check and write in one step."""
        return None

    def create_and_commit(
        self, new: NewInstance, commit: OrchestrationCommit
    ) -> EpisodeBatch | None:
        """Always declined: the caller creates the instance the ordinary way."""
        return None

    def watch_status(self, instance_id: str) -> AbstractContextManager[StatusWatch]:
        return self._notifier.watch(instance_id)

    def wait_for_work(self, kind: WorkKind, timeout: float) -> None:
        """Woken by this process's writes through this wrapper, and by due times."""
        self._notifier.wait(kind, timeout)

    def interrupt(self) -> None:
        self._notifier.notify_all()

    def _committed(self, commits: Sequence[OrchestrationCommit]) -> None:
        self._notifier.committed(commits, claiming=False)
