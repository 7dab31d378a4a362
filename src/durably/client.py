"""The client: start, query, steer and wait for orchestration instances."""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from durably import backends, payload, tracing
from durably.app import App
from durably.backends.base import (
    Backend,
    FastBackend,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
)
from durably.backends.derived import with_fast_paths
from durably.codecs import Codec
from durably.engine.context import function_name
from durably.engine.rewind import rewind_request
from durably.entities.client import EntityClient
from durably.errors import InstanceNotFoundError, InvalidInstanceStateError
from durably.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    SubOrchestrationInstanceCreated,
)
from durably.ids import new_instance_id, validate_instance_id
from durably.limits import DEFAULT_MAX_PAYLOAD_BYTES, check_payload_limit
from durably.queries import MAX_PAGE_SIZE, StatusFilter, parse_statuses, purge_query
from durably.status import DurableOrchestrationStatus, InstancePage, PurgeHistoryResult

Status = OrchestrationRuntimeStatus
__all__ = ["MAX_PAGE_SIZE", "Client", "StatusFilter", "connect", "parse_statuses"]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def connect(store: str | Backend | None, app: App | None) -> FastBackend:
    """The store to work on, with its fast paths (derived ones for a core-only store):
    ``store`` itself if it is a store object, else the store at that URL (``None``: see
    :func:`durably.backends.store_url`) in the app's task hub."""
    if store is None or isinstance(store, str):
        task_hub = app.task_hub if app is not None else None
        store = backends.open_backend(backends.store_url(store or None, task_hub=task_hub))
    return with_fast_paths(store)


class Client(EntityClient):
    """Manages orchestration instances in a store.

    A client that knows the app (``worker.client()`` or ``Client(store, app=app)``)
    refuses unknown orchestrator names at the call; a bare client leaves that to the
    worker, which fails the instance with the same message. ``worker.client()`` returns
    a :class:`~durably.worker.client.WorkerClient`, which starts instances through its
    worker (the two methods under "what a subclass may change").

    ``max_payload_bytes`` (default: the app's, else 2 MiB) bounds the payloads it sends;
    a larger one raises :class:`~durably.errors.PayloadTooLargeError` at the call.
    """

    def __init__(
        self,
        store: str | Backend | None = None,
        *,
        app: App | None = None,
        max_payload_bytes: int | None = None,
    ) -> None:
        if max_payload_bytes is None:
            max_payload_bytes = app.max_payload_bytes if app else DEFAULT_MAX_PAYLOAD_BYTES
        self.max_payload_bytes = check_payload_limit(max_payload_bytes)
        self._app = app
        self._owns_backend = not isinstance(store, Backend)
        self.backend = connect(store, app)

    @property
    def codec(self) -> Codec | None:
        """The app's codec for stored payloads, if the client knows the app."""
        return self._codec

    @property
    def _codec(self) -> Codec | None:
        return self._app.codec if self._app is not None else None

    @property
    def app(self) -> App | None:
        """The app this client knows (its orchestrator names are checked), if any."""
        return self._app

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
        an input that is not JSON-serialisable, ``PayloadTooLargeError`` for one over
        ``max_payload_bytes``, ``InstanceExistsError`` if an instance with the id is
        still Pending, Running or Suspended.
        """
        orchestrator = function_name(name)
        fresh = instance_id is None
        instance_id = new_instance_id() if fresh else validate_instance_id(instance_id)
        text = self._dumps(client_input, "orchestration input")
        return self._create(orchestrator, instance_id, text, fresh_id=fresh)

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Deliver an event to a running instance (held while it is suspended)."""
        if not event_name:
            raise ValueError("event_name must not be empty")
        text = self._dumps(event_data, "event data")
        self._require_active(instance_id, "raise an event on")
        event = EventRaised(timestamp=_now(), name=event_name, input=text)
        self.backend.send_message(
            NewMessage(instance_id=instance_id, event=event, visible_at=_now())
        )

    # -- steering --------------------------------------------------------------------
    def terminate(self, instance_id: str, reason: Any = None, *, recursive: bool = True) -> bool:
        """Terminate a Pending, Running or Suspended instance; its timers no longer matter.

        With ``recursive`` (the default) its running sub-orchestrations are terminated too.
        Returns False, doing nothing, if the instance had already finished.
        """
        record = self._record(instance_id)
        if record.runtime_status.is_terminal:
            return False
        text = self._dumps(reason, "reason")
        self._send(
            instance_id, ExecutionTerminated(timestamp=_now(), input=text, recurse=recursive)
        )
        return True

    def suspend(self, instance_id: str, reason: Any = None) -> None:
        """Suspend an instance: it keeps receiving events but does not advance until resumed.

        Raises ``InvalidInstanceStateError`` if the instance already finished.
        """
        text = self._dumps(reason, "reason")
        self._require_active(instance_id, "suspend")
        self._send(instance_id, ExecutionSuspended(timestamp=_now(), reason=text))

    def resume(self, instance_id: str, reason: Any = None) -> None:
        """Resume a suspended instance; the events it received meanwhile apply in order.

        Requests are applied in the order they were sent, so a resume that follows a
        suspend not yet processed still undoes it. Raises ``InvalidInstanceStateError``
        if the instance already finished.
        """
        text = self._dumps(reason, "reason")
        self._require_active(instance_id, "resume")
        self._send(instance_id, ExecutionResumed(timestamp=_now(), reason=text))

    def rewind(self, instance_id: str, reason: Any = None) -> None:
        """Run a Failed instance's failed activities and sub-orchestrations again.

        What succeeded is not run again; the history keeps the failures as
        ``GenericEvent`` records and the instance goes back to Running. Failed
        sub-orchestrations are rewound in turn. Raises ``InvalidInstanceStateError``
        unless the instance is Failed.
        """
        text = self._dumps(reason, "reason")
        record = self._record(instance_id)
        if record.runtime_status is not Status.Failed:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, "rewind")
        refuse_entity_rewind(instance_id, self.backend.get_history(instance_id))
        self._send(instance_id, rewind_request(text, _now()))

    def restart(self, instance_id: str, new_instance_id: str | None = None) -> str:
        """Start the orchestration again from its input; returns the new run's id.

        With ``new_instance_id`` the new run gets that id and the old instance is left as
        it is; without, the finished instance is replaced (``InvalidInstanceStateError``
        if it is still Pending, Running or Suspended). A run that continued as new
        restarts from its latest input.
        """
        record = self._record(instance_id)
        if new_instance_id is None:
            if not record.runtime_status.is_terminal:
                raise InvalidInstanceStateError(instance_id, record.runtime_status, "restart")
            target = instance_id
        else:
            target = validate_instance_id(new_instance_id)
        return self._create(record.name, target, record.input)

    # -- queries ----------------------------------------------------------------------
    def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> DurableOrchestrationStatus | None:
        """The instance's status, or None for an unknown instance."""
        record = self.backend.get_instance(_checked(instance_id))
        if record is None:
            return None
        history = self.backend.get_history(instance_id) if show_history else None
        return DurableOrchestrationStatus.from_record(
            record,
            show_input=show_input,
            history=history,
            show_history_output=show_history_output,
            codec=self._codec,
        )

    def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The instance's history events (``event.to_dict()`` gives the JSON shape)."""
        if self.backend.get_instance(_checked(instance_id)) is None:
            raise InstanceNotFoundError(instance_id)
        return self.backend.get_history(instance_id)

    def list_instances(
        self,
        runtime_status: StatusFilter = None,
        name: str | None = None,
        instance_id_prefix: str | None = None,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> InstancePage:
        """One page of instances matching every filter given, oldest first.

        Pass the page's ``continuation_token`` to get the next one (None on the last).
        Paging is by (created time, instance id), so it is stable while instances are
        created or deleted. ``ValueError`` for a bad status, page size or token.
        """
        query = self.instance_query(
            runtime_status,
            name,
            instance_id_prefix,
            created_time_from,
            created_time_to,
            page_size,
            continuation_token,
        )
        page = self.backend.list_instances(query)
        statuses = [
            DurableOrchestrationStatus.from_record(r, codec=self._codec) for r in page.instances
        ]
        return InstancePage(instances=statuses, continuation_token=page.continuation_token)

    def instance_query(
        self,
        runtime_status: StatusFilter = None,
        name: str | None = None,
        instance_id_prefix: str | None = None,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> InstanceQuery:
        """The store query of :meth:`list_instances`' arguments (``ValueError`` for a bad
        status or page size)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        return InstanceQuery(
            runtime_status=parse_statuses(runtime_status),
            name=name,
            instance_id_prefix=instance_id_prefix or None,
            created_time_from=created_time_from,
            created_time_to=created_time_to,
            page_size=page_size,
            continuation_token=continuation_token or None,
        )

    def get_status_all(self) -> list[DurableOrchestrationStatus]:
        """The status of every instance in the task hub, oldest first."""
        return list(self._all_pages())

    def get_status_by(
        self,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        runtime_status: StatusFilter = None,
    ) -> list[DurableOrchestrationStatus]:
        """The status of every instance created in the range with one of the statuses."""
        return list(
            self._all_pages(
                created_time_from=created_time_from,
                created_time_to=created_time_to,
                runtime_status=runtime_status,
            )
        )

    # -- purging ----------------------------------------------------------------------
    def purge_instance_history(
        self, instance_id: str, *, recursive: bool = False
    ) -> PurgeHistoryResult:
        """Delete a finished instance with its history; with ``recursive`` also the
        finished sub-orchestrations it started (at any depth).

        Raises ``InstanceNotFoundError`` for an unknown instance and
        ``InvalidInstanceStateError`` if it is still Pending, Running or Suspended.
        """
        record = self._record(instance_id)
        if not record.runtime_status.is_terminal:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, "purge")
        doomed = self._descendants(instance_id) if recursive else []
        deleted = sum(self._purge_if_finished(child) for child in reversed(doomed))
        if not self.backend.purge_instance(instance_id):
            raise InstanceNotFoundError(instance_id)
        return PurgeHistoryResult(deleted + 1)

    def purge_instance_history_by(
        self,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        runtime_status: StatusFilter = None,
    ) -> PurgeHistoryResult:
        """Delete every finished instance created in the range (and with one of the
        statuses, which must be Completed, Failed, Terminated or Canceled)."""
        query = purge_query(created_time_from, created_time_to, runtime_status)
        return PurgeHistoryResult(self.backend.purge_instances(query))

    def wait_for_completion(
        self, instance_id: str, timeout: float | None = None
    ) -> DurableOrchestrationStatus:
        """Block until the instance is Completed, Failed or Terminated.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first and
        ``InstanceNotFoundError`` for an unknown instance.
        """
        _checked(instance_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        # Every backend wakes "status" waiters when an instance finishes (in this process,
        # or in another one: LISTEN, or SQLite's data_version poll), so the pause only
        # bounds how late a missed wake-up is noticed; short ones would cost reads. A
        # commit in this process hands the finished instance to the watch: no read then.
        pause = 0.01
        # An instance whose activity this process's worker is running moves on by that
        # worker's commit (which hands it to the watch) or by another process's, which
        # wakes the status waiters: wait before the first read. (A change made just
        # before the call, whose wake-up another waiter took, is read after the pause.)
        with self.backend.watch_status(instance_id) as watch:
            if self._runs_activity_of(instance_id):
                self.backend.wait_for_work(
                    "status", pause if timeout is None else min(pause, timeout)
                )
            while True:
                record = watch.record or self.backend.get_instance(instance_id)
                if record is None:
                    raise InstanceNotFoundError(instance_id)
                if record.runtime_status.is_terminal:
                    return DurableOrchestrationStatus.from_record(
                        record, show_input=False, codec=self._codec
                    )
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"instance {instance_id!r} is still {record.runtime_status}"
                        f" after {timeout} s"
                    )
                wait = pause if remaining is None else min(pause, remaining)
                self.backend.wait_for_work("status", wait)
                pause = min(pause * 2, 0.25)

    # -- helpers ------------------------------------------------------------------------
    def _create(
        self, orchestrator: str, instance_id: str, text: str | None, *, fresh_id: bool = False
    ) -> str:
        new = self._new_instance(orchestrator, instance_id, text)
        self._create_instance(new, fresh_id=fresh_id)
        return instance_id

    def _new_instance(self, orchestrator: str, instance_id: str, text: str | None) -> NewInstance:
        """The new Pending instance of a start (``ValueError`` for an orchestrator the
        client's app lacks)."""
        if self._app is not None and orchestrator not in self._app.orchestrators:
            raise self._app.unknown_orchestrator(orchestrator)
        now = _now()
        version = self._app.version if self._app is not None else None
        start = ExecutionStarted(
            timestamp=now,
            name=orchestrator,
            instance_id=instance_id,
            input=text,
            version=version,
            parent_trace_context=tracing.caller_context(),  # the caller's span, if any
        )
        return NewInstance(
            version=version,
            instance_id=instance_id,
            name=orchestrator,
            execution_id=uuid.uuid4().hex,
            input=text,
            created_time=now,
            start_event=start,
            visible_at=now,
        )

    def _dumps(self, value: Any, what: str) -> str | None:
        return payload.dumps(value, what=what, limit=self.max_payload_bytes, codec=self._codec)

    # -- what a subclass may change (the client of a worker) -----------------------
    def _create_instance(self, new: NewInstance, *, fresh_id: bool) -> None:
        """Write a new instance; ``fresh_id``: its id was just generated, so no instance
        can have it. (A worker's client also runs the first episode.)"""
        self.backend.create_instance(new)

    def _runs_activity_of(self, instance_id: str) -> bool:
        """Whether this process is running one of the instance's activities now; its
        commit will move the instance on, so a waiter waits before its first read."""
        return False

    def _send(self, instance_id: str, event: HistoryEvent) -> None:
        self.backend.send_message(
            NewMessage(instance_id=instance_id, event=event, visible_at=_now())
        )

    def _record(self, instance_id: str) -> InstanceRecord:
        record = self.backend.get_instance(_checked(instance_id))
        if record is None:
            raise InstanceNotFoundError(instance_id)
        return record

    def _require_active(self, instance_id: str, operation: str) -> None:
        record = self._record(instance_id)
        if record.runtime_status.is_terminal:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, operation)

    def _all_pages(self, **filters: Any) -> Iterator[DurableOrchestrationStatus]:
        token: str | None = None
        while True:
            page = self.list_instances(**filters, page_size=MAX_PAGE_SIZE, continuation_token=token)
            yield from page.instances
            token = page.continuation_token
            if token is None:
                return

    def _descendants(self, instance_id: str) -> list[str]:
        """Sub-orchestrations started by the instance, at any depth, parents first."""
        found: list[str] = []
        parents = [instance_id]
        while parents:
            parent = parents.pop(0)
            for child in started_children(self.backend.get_history(parent)):
                record = self.backend.get_instance(child)
                if (
                    record is not None
                    and record.parent_instance_id == parent
                    and child not in found
                ):
                    found.append(child)
                    parents.append(child)
        return found

    def _purge_if_finished(self, instance_id: str) -> int:
        record = self.backend.get_instance(instance_id)
        if record is None or not record.runtime_status.is_terminal:
            return 0
        return int(self.backend.purge_instance(instance_id))


def _checked(instance_id: object) -> str:
    """``instance_id`` if it is a string; ``TypeError`` naming what it is otherwise (a
    store would refuse it with its own message, or quietly find nothing)."""
    if not isinstance(instance_id, str):
        raise TypeError(
            f"instance_id must be a string, got {type(instance_id).__name__}: {instance_id!r}"
        )
    return instance_id


def refuse_entity_rewind(instance_id: str, history: list[HistoryEvent]) -> None:
    """``ValueError`` for an instance that used entities: its calls and critical
    sections cannot be taken up again where they were (not supported yet)."""
    if any(e.event_type.startswith("Entity") for e in history):
        raise ValueError(
            f"instance {instance_id!r} called entities or held their locks: rewinding it"
            " is not supported (its entity calls and critical sections would not resume)"
        )


def started_children(history: list[HistoryEvent]) -> list[str]:
    ids = (e.instance_id for e in history if isinstance(e, SubOrchestrationInstanceCreated))
    return list(dict.fromkeys(ids))
