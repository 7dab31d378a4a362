"""WorkerClient: the client of a running worker (``worker.client()``)."""

from __future__ import annotations

from collections.abc import Callable

from durably.app import App
from durably.backends.base import FastBackend, NewInstance
from durably.client import Client


class WorkerClient(Client):
    """A :class:`~durably.client.Client` on a worker's store that knows its app.

    ``start`` (if given) creates an instance through the worker, which may run its first
    episode in the commit that creates it; ``busy_with`` tells whether the worker is
    running one of an instance's activities (then its commit moves the instance on, and
    ``wait_for_completion`` waits for it before reading the store).
    """

    def __init__(
        self,
        backend: FastBackend,
        app: App,
        *,
        start: Callable[[NewInstance, bool], None] | None,
        busy_with: Callable[[str], bool],
    ) -> None:
        super().__init__(backend, app=app)
        self._start = start
        self._busy_with = busy_with

    def _create_instance(self, new: NewInstance, *, fresh_id: bool) -> None:
        if self._start is None:
            super()._create_instance(new, fresh_id=fresh_id)
        else:
            self._start(new, fresh_id)

    def _runs_activity_of(self, instance_id: str) -> bool:
        return self._busy_with(instance_id)
