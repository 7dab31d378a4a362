"""A memory store that fails the worker's writes at planned points, after it took leases.

The faultable calls are counted in the order they happen (only those with work in them:
a batch of episodes the runner is called on, a commit without a lock, a delivery of
activity results, a fetch that locked activities); a plan maps call numbers to faults:

- ``fail-before``: the episodes ran (or the activity ran) but the write fails with
  ``StoreError`` and nothing is written; the leases are released.
- ``fail-after``: the write lands, then ``StoreError`` is raised anyway (a connection
  dropped before the answer): the caller believes it failed.
- ``lease-lost``: the leases run out before the write (released, as a lease that
  expired and was taken by nobody yet), so the store reports the write lost; for a fetch,
  the activities just locked are visible again to the next pick-up.
- ``claims-lost``: the write lands, then the activities it locked for the worker lose
  their lease, so another pick-up runs them again while the worker runs them too.

The store keeps its own fast paths (the worker detects them by the methods), so the
faults hit the paths a worker uses on the memory store.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Sequence
from typing import Any

from durably.backends.base import (
    ActivityResult,
    ActivityWorkItem,
    EpisodeBatch,
    EpisodeRunner,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.backends.memory import MemoryBackend
from durably.errors import StoreError

FAULTS = ("fail-before", "fail-after", "lease-lost", "claims-lost")


class FaultyStore(MemoryBackend):
    """A private memory store that injects the faults of ``plan`` (call number -> fault)."""

    def __init__(self, plan: dict[int, str]) -> None:
        super().__init__()
        self._plan = dict(plan)
        self._calls = 0
        self._counting = threading.Lock()
        self.injected: list[str] = []
        """What was done, in order: for the report of a failing example."""

    def _fault(self, call: str) -> str | None:
        with self._counting:
            number, self._calls = self._calls, self._calls + 1
            fault = self._plan.get(number)
            if fault is not None:
                self.injected.append(f"{number}: {call} {fault}")
            return fault

    # -- episodes ------------------------------------------------------------------
    def run_episodes(self, runner: EpisodeRunner, **options: Any) -> EpisodeBatch:
        if options.get("create") is not None:  # a client's start: its caller sees errors
            return super().run_episodes(runner, **options)
        faults: list[str | None] = []  # the runner's, when it is called (items were locked)

        def faulty_runner(items: Sequence[OrchestrationWorkItem]) -> Sequence[OrchestrationCommit]:
            fault = self._fault("run_episodes")
            faults.append(fault)
            commits = runner(items)
            if fault == "fail-before":
                raise StoreError("injected: the commit failed")
            if fault == "lease-lost":
                for item in items:
                    self.abandon_orchestration(item)
            return commits

        batch = super().run_episodes(faulty_runner, **options)
        fault = faults[0] if faults else None
        if fault == "fail-after":
            raise StoreError("injected: the commit landed but its answer was lost")
        if fault == "claims-lost":
            self._lose(batch.claimed)
        return batch

    def commit_if_unchanged(
        self, commit: OrchestrationCommit, *, now: _dt.datetime
    ) -> EpisodeBatch | None:
        fault = self._fault("commit_if_unchanged")
        if fault == "fail-before":
            raise StoreError("injected: the commit failed")
        if fault == "lease-lost":
            return None
        batch = super().commit_if_unchanged(commit, now=now)
        if fault == "fail-after":
            raise StoreError("injected: the commit landed but its answer was lost")
        if fault == "claims-lost" and batch is not None:
            self._lose(batch.claimed)
        return batch

    # -- activities ----------------------------------------------------------------
    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        fault = self._fault("complete_activities") if results else None
        if fault == "fail-before":
            raise StoreError("injected: the delivery failed")
        if fault in ("lease-lost", "claims-lost"):
            self._lose([result.work_item for result in results])
        lost = super().complete_activities(results)
        if fault == "fail-after":
            raise StoreError("injected: the delivery landed but its answer was lost")
        return lost

    def lock_next_activities(self, **options: Any) -> list[ActivityWorkItem]:
        items = super().lock_next_activities(**options)
        fault = self._fault("lock_next_activities") if items else None
        if fault == "fail-before":
            self._lose(items)
            raise StoreError("injected: the fetch failed")
        if fault == "fail-after":
            raise StoreError("injected: the fetch locked work but its answer was lost")
        if fault in ("lease-lost", "claims-lost"):
            self._lose(items)
        return items

    def _lose(self, items: Sequence[ActivityWorkItem]) -> None:
        """End the leases of ``items`` now: the work is visible to the next pick-up."""
        for item in items:
            self.abandon_activity(item, visible_at=_PAST)


_PAST = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
