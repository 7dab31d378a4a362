"""AsyncClient: every :class:`~durably.client.Client` method as a coroutine, for asyncio
programs (FastAPI, aiohttp) that must never block their event loop.

On PostgreSQL the store calls run on psycopg's async connections and pool, no thread.
On the other stores they run on a thread of the client's own, which they share (SQLite
serialises its writes anyway). A worker's client (``worker.async_client()``) runs a
start's first episode itself, so its starts run on the client's threads (several on
PostgreSQL; ``threads=`` sets the number). ``wait_for_completion`` holds no thread
while it waits: one thread per client listens for the store's status notifications
and wakes the waiting coroutines, however many.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as _dt
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from durably.app import App
from durably.async_store import POSTGRES_THREADS, async_store, is_postgres
from durably.backends.base import (
    Backend,
    FastBackend,
    InstanceRecord,
    NewMessage,
)
from durably.client import Client, _checked, _now, refuse_entity_rewind, started_children
from durably.engine.context import function_name
from durably.engine.rewind import rewind_request
from durably.entities.client import entity_query
from durably.entities.ids import EntityId, as_entity_id
from durably.entities.messages import entity_instance
from durably.entities.state import EntityPage, EntityStateResponse
from durably.errors import InstanceNotFoundError, InvalidInstanceStateError
from durably.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionSuspended,
    ExecutionTerminated,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)
from durably.ids import new_instance_id, validate_instance_id
from durably.queries import MAX_PAGE_SIZE, StatusFilter, purge_query
from durably.status import DurableOrchestrationStatus, InstancePage, PurgeHistoryResult

T = TypeVar("T")
Status = OrchestrationRuntimeStatus

LONGEST_PAUSE = 0.25
"""Seconds a waiter goes without a read at most (a wake-up missed is noticed then)."""


class AsyncClient:
    """Manages orchestration instances from asyncio code: :class:`Client`'s methods, each
    a coroutine (``await client.start_new(...)``), with the same arguments, results and
    errors.

    ``AsyncClient(store, app=app)`` opens its own store connection;
    ``worker.async_client()`` (or ``AsyncClient(client=...)``) wraps a client already
    open. Use ``async with`` or ``await client.close()``.
    """

    def __init__(
        self,
        store: str | Backend | None = None,
        *,
        app: App | None = None,
        max_payload_bytes: int | None = None,
        client: Client | None = None,
        threads: int | None = None,
    ) -> None:
        if client is None:
            client = Client(store, app=app, max_payload_bytes=max_payload_bytes)
            self._owns_client = True
        else:
            self._owns_client = False
        self.sync = client
        """The blocking client this one runs on its thread."""
        if threads is None:
            threads = POSTGRES_THREADS if is_postgres(client.backend) else 1
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a whole number of at least 1, got {threads!r}")
        self._thread = ThreadPoolExecutor(threads, thread_name_prefix="durably-async-client")
        self._wakes = _StatusWakes(client.backend)
        self._store = async_store(client.backend, self._thread)
        # A worker's client may run the first episode of what it starts: on a thread here.
        self._plain_starts = type(client)._create_instance is Client._create_instance

    @property
    def app(self) -> App | None:
        return self.sync.app

    @property
    def max_payload_bytes(self) -> int:
        return self.sync.max_payload_bytes

    @property
    def backend(self) -> FastBackend:
        return self.sync.backend

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        # In the caller's context: a start made there continues the caller's trace.
        bound = functools.partial(contextvars.copy_context().run, call, *args, **kwargs)
        return await loop.run_in_executor(self._thread, bound)

    async def close(self) -> None:
        """Release the thread and, if this client opened it, the store connection."""
        self._wakes.stop()
        await self._store.close()
        if self._owns_client:
            await self._run(self.sync.close)
        self._thread.shutdown(wait=False)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- starting, events, steering ---------------------------------------------------
    async def start_new(
        self,
        name: str | Callable[..., Any],
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str:
        """As :meth:`Client.start_new`."""
        if not self._plain_starts:  # a worker's client runs the first episode itself
            return await self._run(self.sync.start_new, name, instance_id, client_input)
        orchestrator = function_name(name)
        fresh = instance_id is None
        instance_id = new_instance_id() if fresh else validate_instance_id(instance_id)
        text = self.sync._dumps(client_input, "orchestration input")
        await self._store.create_instance(self.sync._new_instance(orchestrator, instance_id, text))
        return instance_id

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """As :meth:`Client.raise_event`."""
        if not event_name:
            raise ValueError("event_name must not be empty")
        text = self.sync._dumps(event_data, "event data")
        await self._require_active(instance_id, "raise an event on")
        await self._send(instance_id, EventRaised(timestamp=_now(), name=event_name, input=text))

    async def terminate(
        self, instance_id: str, reason: Any = None, *, recursive: bool = True
    ) -> bool:
        """As :meth:`Client.terminate`."""
        record = await self._existing(instance_id)
        if record.runtime_status.is_terminal:
            return False
        text = self.sync._dumps(reason, "reason")
        event = ExecutionTerminated(timestamp=_now(), input=text, recurse=recursive)
        await self._send(instance_id, event)
        return True

    async def suspend(self, instance_id: str, reason: Any = None) -> None:
        """As :meth:`Client.suspend`."""
        text = self.sync._dumps(reason, "reason")
        await self._require_active(instance_id, "suspend")
        await self._send(instance_id, ExecutionSuspended(timestamp=_now(), reason=text))

    async def resume(self, instance_id: str, reason: Any = None) -> None:
        """As :meth:`Client.resume`."""
        text = self.sync._dumps(reason, "reason")
        await self._require_active(instance_id, "resume")
        await self._send(instance_id, ExecutionResumed(timestamp=_now(), reason=text))

    async def rewind(self, instance_id: str, reason: Any = None) -> None:
        """As :meth:`Client.rewind`."""
        text = self.sync._dumps(reason, "reason")
        record = await self._existing(instance_id)
        if record.runtime_status is not Status.Failed:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, "rewind")
        refuse_entity_rewind(instance_id, await self._store.get_history(instance_id))
        await self._send(instance_id, rewind_request(text, _now()))

    async def restart(self, instance_id: str, new_instance_id: str | None = None) -> str:
        """As :meth:`Client.restart`."""
        if not self._plain_starts:
            return await self._run(self.sync.restart, instance_id, new_instance_id)
        record = await self._existing(instance_id)
        if new_instance_id is None:
            if not record.runtime_status.is_terminal:
                raise InvalidInstanceStateError(instance_id, record.runtime_status, "restart")
            target = instance_id
        else:
            target = validate_instance_id(new_instance_id)
        new = self.sync._new_instance(record.name, target, record.input)
        await self._store.create_instance(new)
        return target

    # -- entities ----------------------------------------------------------------------
    async def signal_entity(
        self,
        entity_id: EntityId | tuple[str, str],
        operation: str,
        input_: Any = None,
        *,
        signal_time: _dt.datetime | None = None,
    ) -> None:
        """As :meth:`Client.signal_entity`."""
        target = as_entity_id(entity_id)
        message = self.sync._signal_message(target, operation, input_, signal_time)
        await self._store.send_to_entity(entity_instance(target.instance_id, _now()), message)

    async def list_entities(
        self,
        name: str | None = None,
        *,
        last_operation_from: _dt.datetime | None = None,
        last_operation_to: _dt.datetime | None = None,
        include_deleted: bool = False,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> EntityPage:
        """As :meth:`Client.list_entities`."""
        query = entity_query(name, page_size, continuation_token)
        page = await self._store.list_instances(query)
        return self.sync._entity_page(page, last_operation_from, last_operation_to, include_deleted)

    async def purge_entities(self, name: str | None = None) -> int:
        """As :meth:`Client.purge_entities` (on the client's thread)."""
        return await self._run(self.sync.purge_entities, name)

    async def read_entity_state(self, entity_id: EntityId | tuple[str, str]) -> EntityStateResponse:
        """As :meth:`Client.read_entity_state`."""
        record = await self._store.get_instance(as_entity_id(entity_id).instance_id)
        return self.sync._entity_state(record)

    # -- queries -----------------------------------------------------------------------
    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> DurableOrchestrationStatus | None:
        """As :meth:`Client.get_status`."""
        record = await self._store.get_instance(_checked(instance_id))
        if record is None:
            return None
        history = await self._store.get_history(instance_id) if show_history else None
        return DurableOrchestrationStatus.from_record(
            record,
            show_input=show_input,
            history=history,
            show_history_output=show_history_output,
            codec=self.sync.codec,
        )

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """As :meth:`Client.get_history`."""
        await self._existing(instance_id)
        return await self._store.get_history(instance_id)

    async def list_instances(
        self,
        runtime_status: StatusFilter = None,
        name: str | None = None,
        instance_id_prefix: str | None = None,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> InstancePage:
        """As :meth:`Client.list_instances`."""
        query = self.sync.instance_query(
            runtime_status,
            name,
            instance_id_prefix,
            created_time_from,
            created_time_to,
            page_size,
            continuation_token,
        )
        page = await self._store.list_instances(query)
        codec = self.sync.codec
        statuses = [DurableOrchestrationStatus.from_record(r, codec=codec) for r in page.instances]
        return InstancePage(instances=statuses, continuation_token=page.continuation_token)

    async def get_status_all(self) -> list[DurableOrchestrationStatus]:
        """As :meth:`Client.get_status_all`."""
        return await self._all_pages()

    async def get_status_by(
        self,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        runtime_status: StatusFilter = None,
    ) -> list[DurableOrchestrationStatus]:
        """As :meth:`Client.get_status_by`."""
        return await self._all_pages(
            created_time_from=created_time_from,
            created_time_to=created_time_to,
            runtime_status=runtime_status,
        )

    # -- purging -----------------------------------------------------------------------
    async def purge_instance_history(
        self, instance_id: str, *, recursive: bool = False
    ) -> PurgeHistoryResult:
        """As :meth:`Client.purge_instance_history`."""
        record = await self._existing(instance_id)
        if not record.runtime_status.is_terminal:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, "purge")
        doomed = await self._descendants(instance_id) if recursive else []
        deleted = 0
        for child in reversed(doomed):
            found = await self._store.get_instance(child)
            if found is not None and found.runtime_status.is_terminal:
                deleted += await self._store.purge_instance(child)
        if not await self._store.purge_instance(instance_id):
            raise InstanceNotFoundError(instance_id)
        return PurgeHistoryResult(deleted + 1)

    async def purge_instance_history_by(
        self,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        runtime_status: StatusFilter = None,
    ) -> PurgeHistoryResult:
        """As :meth:`Client.purge_instance_history_by`."""
        query = purge_query(created_time_from, created_time_to, runtime_status)
        return PurgeHistoryResult(await self._store.purge_instances(query))

    # -- waiting -----------------------------------------------------------------------
    async def wait_for_completion(
        self, instance_id: str, timeout: float | None = None
    ) -> DurableOrchestrationStatus:
        """As :meth:`Client.wait_for_completion`, holding no thread while it waits: the
        store's status notifications wake it (reads at most every 0.25 s otherwise)."""
        _checked(instance_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.01
        with self.backend.watch_status(instance_id) as watch:
            while True:
                record = watch.record or await self._store.get_instance(instance_id)
                if record is None:
                    raise InstanceNotFoundError(instance_id)
                if record.runtime_status.is_terminal:
                    return DurableOrchestrationStatus.from_record(record, show_input=False)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"instance {instance_id!r} is still {record.runtime_status}"
                        f" after {timeout} s"
                    )
                await self._wakes.wait(pause if remaining is None else min(pause, remaining))
                pause = min(pause * 2, LONGEST_PAUSE)

    # -- helpers -----------------------------------------------------------------------
    async def _existing(self, instance_id: str) -> InstanceRecord:
        record = await self._store.get_instance(_checked(instance_id))
        if record is None:
            raise InstanceNotFoundError(instance_id)
        return record

    async def _require_active(self, instance_id: str, operation: str) -> None:
        record = await self._existing(instance_id)
        if record.runtime_status.is_terminal:
            raise InvalidInstanceStateError(instance_id, record.runtime_status, operation)

    async def _send(self, instance_id: str, event: HistoryEvent) -> None:
        message = NewMessage(instance_id=instance_id, event=event, visible_at=_now())
        await self._store.send_message(message)

    async def _all_pages(self, **filters: Any) -> list[DurableOrchestrationStatus]:
        found: list[DurableOrchestrationStatus] = []
        token: str | None = None
        while True:
            page = await self.list_instances(
                **filters, page_size=MAX_PAGE_SIZE, continuation_token=token
            )
            found.extend(page.instances)
            token = page.continuation_token
            if token is None:
                return found

    async def _descendants(self, instance_id: str) -> list[str]:
        """As :meth:`Client._descendants`."""
        found: list[str] = []
        parents = [instance_id]
        while parents:
            parent = parents.pop(0)
            for child in started_children(await self._store.get_history(parent)):
                record = await self._store.get_instance(child)
                is_child = record is not None and record.parent_instance_id == parent
                if is_child and child not in found:
                    found.append(child)
                    parents.append(child)
        return found


class _StatusWakes:
    """One thread that listens for a store's status notifications while coroutines wait
    for them, and wakes them all at each one (on their own event loops)."""

    def __init__(self, backend: FastBackend) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._listening = False
        self._stopped = False

    async def wait(self, timeout: float) -> None:
        """Return at the next status notification, or after ``timeout`` seconds."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.add(waiter)
            start = not self._listening and not self._stopped
            self._listening = self._listening or start
        if start:
            threading.Thread(target=self._listen, name="durably-status-wakes", daemon=True).start()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), timeout)
        finally:
            with self._lock:
                self._waiting.discard(waiter)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    def _listen(self) -> None:
        while True:
            with self._lock:
                if not self._waiting or self._stopped:
                    self._listening = False
                    return
            try:
                self._backend.wait_for_work("status", LONGEST_PAUSE)
            except Exception:  # the store was closed under the waiters: they read it
                time.sleep(LONGEST_PAUSE)  # themselves, and see what happened
            with self._lock:
                waiting = list(self._waiting)
            for loop, event in waiting:
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    loop.call_soon_threadsafe(event.set)
