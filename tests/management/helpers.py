"""A deterministic driver for management tests: dispatchers run in the test's thread.

``Driver.run()`` runs orchestration episodes (and, unless told not to, activities) until
nothing is left to do, at the wall-clock time plus ``advance`` (so durable timers can be
made due without sleeping). Activities can be held back to arrive at a chosen moment.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import durably
from durably.backends.base import Backend
from durably.worker import ActivityDispatcher, OrchestrationDispatcher

Status = durably.OrchestrationRuntimeStatus


class Driver:
    """Runs ``app`` on ``backend`` one step at a time; ``client`` knows the app."""

    def __init__(self, app: durably.App, backend: Backend, *, cache_size: int = 1024) -> None:
        self.backend = backend
        self.client = durably.Client(backend, app=app)
        self.orchestrations = OrchestrationDispatcher(
            app, backend, owner="test", cache_size=cache_size
        )
        self.activities = ActivityDispatcher(app, backend, owner="test")

    def run(self, *, activities: bool = True, advance: _dt.timedelta | None = None) -> None:
        """Process everything that is due now (plus ``advance``) until the store is quiet."""
        for _ in range(1000):
            now = _dt.datetime.now(_dt.UTC) + (advance or _dt.timedelta(0))
            done = self.orchestrations.run_once(now)
            if activities:
                done += self.activities.run_once(now)
            if done == 0:
                return
        raise AssertionError("the store never went quiet")

    def status(self, instance_id: str) -> durably.DurableOrchestrationStatus:
        status = self.client.get_status(instance_id)
        assert status is not None, f"no instance {instance_id!r}"
        return status

    def runtime_status(self, instance_id: str) -> Status:
        return self.status(instance_id).runtime_status

    def event_types(self, instance_id: str) -> list[str]:
        return [e.event_type for e in self.client.get_history(instance_id)]

    def output(self, instance_id: str) -> Any:
        status = self.status(instance_id)
        assert status.runtime_status is Status.Completed, (status.runtime_status, status.output)
        return status.output
