"""Work of functions the app lacks, with ``Worker(unknown_function="wait")``: during a
rolling deploy it is left to a worker that has them, and failed after the grace period.

The store never offers such a worker the instances of orchestrators it lacks, so nothing
else ever looks at them: now and then the worker sweeps them, notes why their work waits
(shown in their status) and fails those that waited past the grace period. An activity it
lacks is handed back where it is fetched (:class:`durably.worker.worker.Worker`), with
the same note.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence

from durably.app import App
from durably.backends.base import (
    Backend,
    InstanceQuery,
    InstanceRecord,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.history import WORKING_STATUSES

PAGE = 500
"""Instances read per page of a sweep."""


def waiting_note(kind: str, name: str, worker_id: str, fails_at: _dt.datetime) -> str:
    """The note shown in the status of an instance whose ``kind`` ("orchestrator",
    "activity") called ``name`` is unknown to ``worker_id``."""
    deadline = fails_at.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"waiting for a worker with {kind} {name!r} (unknown to worker {worker_id});"
        f" fails at {deadline} if none takes it"
    )


def grace_failure(kind: str, name: str, grace: _dt.timedelta) -> ValueError:
    """The error an instance fails with when no worker had ``name`` within ``grace``."""
    return ValueError(
        f"no {kind} named {name!r} on any worker within the grace period"
        f" ({grace.total_seconds():g} s, unknown_function='wait')"
    )


class UnknownOrchestrators:
    """The sweep of the instances of orchestrators a worker's app lacks."""

    def __init__(
        self,
        app: App,
        backend: Backend,
        *,
        owner: str,
        lease: _dt.timedelta,
        fail: Callable[[OrchestrationWorkItem, _dt.datetime, BaseException], OrchestrationCommit],
        committed: Callable[[OrchestrationCommit], None],
    ) -> None:
        self._app = app
        self._backend = backend
        self._owner = owner
        self._lease = lease
        self._fail = fail
        self._committed = committed

    def sweep(self, now: _dt.datetime, grace: _dt.timedelta, after: _dt.timedelta) -> int:
        """Note the instances whose work waited longer than ``after``, fail those that
        waited longer than ``grace``; how many failed. The oldest waiting message of an
        instance tells how long (a timer's is its fire time); one with nothing waiting is
        left alone."""
        failed, token = 0, None
        while True:
            page = self._backend.list_instances(
                InstanceQuery(
                    runtime_status=WORKING_STATUSES, page_size=PAGE, continuation_token=token
                )
            )
            due = [r.instance_id for r in page.instances if self._due(r, now, grace, after)]
            if due:
                failed += self._settle(due, now, grace, after)
            token = page.continuation_token
            if token is None:
                return failed

    def _due(
        self,
        record: InstanceRecord,
        now: _dt.datetime,
        grace: _dt.timedelta,
        after: _dt.timedelta,
    ) -> bool:
        """Whether to look at ``record``: its orchestrator is unknown here, and it has not
        moved for ``after`` (noted already: for the grace period)."""
        if record.name in self._app.orchestrators:
            return False
        quiet = now - record.last_updated_time
        return quiet > (grace if record.waiting is not None else after)

    def _settle(
        self,
        instance_ids: Sequence[str],
        now: _dt.datetime,
        grace: _dt.timedelta,
        after: _dt.timedelta,
    ) -> int:
        items = self._backend.lock_next_orchestrations(
            owner=self._owner, now=now, lease=self._lease, limit=0, instance_ids=instance_ids
        )
        commits = []
        for item in items:
            waiting = [m.event.timestamp for m in item.messages]
            name, instance_id = item.instance.name, item.instance.instance_id
            if waiting and now - min(waiting) > grace:
                commits.append(self._fail(item, now, grace_failure("orchestrator", name, grace)))
                continue
            if waiting and now - min(waiting) > after:
                note = waiting_note("orchestrator", name, self._owner, min(waiting) + grace)
                self._backend.note_waiting(instance_id, note)
            self._backend.abandon_orchestration(item)
        lost = self._backend.commit_orchestrations(commits) if commits else []
        for commit in commits:
            if commit.work_item.instance.instance_id not in lost:
                self._committed(commit)
        return len(commits) - len(lost)
