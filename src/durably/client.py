"""The client: start, query, steer and wait for orchestration instances."""

from __future__ import annotations

import datetime as _dt
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from durably import payload
from durably.app import App
from durably import backends
from durably.backends.base import Backend, NewInstance, NewMessage
from durably.engine.context import function_name
from durably.errors import InstanceNotFoundError, InvalidInstanceStateError
from durably.history import (
    EventRaised,
    ExecutionStarted,
    ExecutionTerminated,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)
from durably.ids import new_instance_id, validate_instance_id
from durably.status import DurableOrchestrationStatus

Status = OrchestrationRuntimeStatus
DEFAULT_STORE = "sqlite:///durably.db"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def connect(store: str | Backend | None, app: App | None) -> Backend:
    """Open ``store`` (a URL, a backend, or None for DURABLY_STORE / sqlite:///durably.db)."""
    if store is not None and not isinstance(store, str):
        return store
    url = store or os.environ.get("DURABLY_STORE") or DEFAULT_STORE
    if app is not None and app.task_hub and "task_hub=" not in url:
        url += ("&" if "?" in url else "?") + f"task_hub={app.task_hub}"
    return backends.open_backend(url)  # type: ignore[no-any-return,attr-defined]


class Client:
    """Manages orchestration instances in a store.

    A client that knows the app (``worker.client()`` or ``Client(store, app=app)``)
    refuses unknown orchestrator names at the call; a bare client leaves that to the
    worker, which fails the instance with the same message.
    """

    def __init__(self, store: str | Backend | None = None, *, app: App | None = None) -> None:
        self._app = app
        self._owns_backend = not isinstance(store, Backend)
        self.backend = connect(store, app)

    def close(self) -> None:
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- starting and events -------------------------------------------------------
    def start_new(
        self,
        name: str | Callable[..., Any],
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str:
        """Start an orchestration; returns its instance id.

        Raises ``ValueError`` for a bad id or an unknown orchestrator, ``TypeError`` for
        an input that is not JSON-serialisable, ``InstanceExistsError`` if an instance
        with the id is still Pending, Running or Suspended.
        """
        orchestrator = function_name(name)
        if self._app is not None and orchestrator not in self._app.orchestrators:
            raise self._app.unknown_orchestrator(orchestrator)
        instance_id = (
            new_instance_id() if instance_id is None else validate_instance_id(instance_id)
        )
        text = payload.dumps(client_input, what="orchestration input")
        now = _now()
        start = ExecutionStarted(
            timestamp=now, name=orchestrator, instance_id=instance_id, input=text
        )
        self.backend.create_instance(
            NewInstance(
                instance_id=instance_id,
                name=orchestrator,
                execution_id=uuid.uuid4().hex,
                input=text,
                created_time=now,
                start_event=start,
                visible_at=now,
            )
        )
        return instance_id

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Deliver an event to a running instance (held while it is suspended)."""
        if not event_name:
            raise ValueError("event_name must not be empty")
        text = payload.dumps(event_data, what="event data")
        self._require_active(instance_id, "raise an event on")
        event = EventRaised(timestamp=_now(), name=event_name, input=text)
        self.backend.send_message(
            NewMessage(instance_id=instance_id, event=event, visible_at=_now())
        )

    def terminate(self, instance_id: str, reason: Any = None) -> bool:
        """Terminate an instance; False (and nothing done) if it had already finished."""
        record = self.backend.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(instance_id)
        if record.runtime_status.is_terminal:
            return False
        text = payload.dumps(reason, what="reason")
        event = ExecutionTerminated(timestamp=_now(), input=text)
        self.backend.send_message(
            NewMessage(instance_id=instance_id, event=event, visible_at=_now())
        )
        return True

    # -- queries ----------------------------------------------------------------------
    def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> DurableOrchestrationStatus | None:
        """The instance's status, or None for an unknown instance."""
        record = self.backend.get_instance(instance_id)
        if record is None:
            return None
        history = self.backend.get_history(instance_id) if show_history else None
        return DurableOrchestrationStatus.from_record(
            record, show_input=show_input, history=history, show_history_output=show_history_output
        )

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The instance's history events (``event.to_dict()`` gives the JSON shape)."""
        if self.backend.get_instance(instance_id) is None:
            raise InstanceNotFoundError(instance_id)
        return self.backend.get_history(instance_id)

    def wait_for_completion(
        self, instance_id: str, timeout: float | None = None
    ) -> DurableOrchestrationStatus:
        """Block until the instance is Completed, Failed or Terminated.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first and
        ``InstanceNotFoundError`` for an unknown instance.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            status = self.get_status(instance_id, show_input=False)
            if status is None:
                raise InstanceNotFoundError(instance_id)
            if status.runtime_status.is_terminal:
                return status
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(
                    f"instance {instance_id!r} is still {status.runtime_status} after {timeout} s"
                )
            wait = pause if remaining is None else min(pause, remaining)
            self.backend.wait_for_work("status", wait)
            pause = min(pause * 2, 0.25)

    # -- helpers ------------------------------------------------------------------------
    def _require_active(self, instance_id: str, operation: str) -> Status:
        record = self.backend.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(instance_id)
        if record.runtime_status.is_terminal:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, operation)
        return record.runtime_status
