"""AsyncClient: every :class:`~durably.client.Client` method as a coroutine, for asyncio
programs (FastAPI, aiohttp) that must never block their event loop.

The store calls run on threads of the client's own: one, which they share, on SQLite
(its writes are serialised anyway) and memory; several on PostgreSQL, whose connection
pool serves them at once (``threads=`` sets the number). On PostgreSQL the status reads
(``get_status``, ``get_history``, ``list_instances`` and the reads of
``wait_for_completion``) use psycopg's async connections and pool instead, no thread.
``wait_for_completion`` holds no thread while it waits: one thread per client listens
for the store's status notifications and wakes the waiting coroutines, however many.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from durably.app import App
from durably.backends.base import Backend, FastBackend, InstanceRecord
from durably.client import Client, StatusFilter, _checked
from durably.errors import InstanceNotFoundError
from durably.history import HistoryEvent
from durably.status import DurableOrchestrationStatus, InstancePage, PurgeHistoryResult

if TYPE_CHECKING:
    from durably.backends._pg_async import AsyncReads

T = TypeVar("T")

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
            threads = POSTGRES_THREADS if _is_postgres(client.backend) else 1
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a whole number of at least 1, got {threads!r}")
        self._thread = ThreadPoolExecutor(threads, thread_name_prefix="durably-async-client")
        self._wakes = _StatusWakes(client.backend)
        self._reads = _async_reads(client.backend)

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
        return await loop.run_in_executor(self._thread, functools.partial(call, *args, **kwargs))

    async def close(self) -> None:
        """Release the thread and, if this client opened it, the store connection."""
        self._wakes.stop()
        if self._reads is not None:
            await self._reads.close()
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
        return await self._run(self.sync.start_new, name, instance_id, client_input)

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """As :meth:`Client.raise_event`."""
        await self._run(self.sync.raise_event, instance_id, event_name, event_data)

    async def terminate(
        self, instance_id: str, reason: Any = None, *, recursive: bool = True
    ) -> bool:
        """As :meth:`Client.terminate`."""
        return await self._run(self.sync.terminate, instance_id, reason, recursive=recursive)

    async def suspend(self, instance_id: str, reason: Any = None) -> None:
        """As :meth:`Client.suspend`."""
        await self._run(self.sync.suspend, instance_id, reason)

    async def resume(self, instance_id: str, reason: Any = None) -> None:
        """As :meth:`Client.resume`."""
        await self._run(self.sync.resume, instance_id, reason)

    async def rewind(self, instance_id: str, reason: Any = None) -> None:
        """As :meth:`Client.rewind`."""
        await self._run(self.sync.rewind, instance_id, reason)

    async def restart(self, instance_id: str, new_instance_id: str | None = None) -> str:
        """As :meth:`Client.restart`."""
        return await self._run(self.sync.restart, instance_id, new_instance_id)

    # -- queries -----------------------------------------------------------------------
    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> DurableOrchestrationStatus | None:
        """As :meth:`Client.get_status`."""
        if self._reads is None:
            return await self._run(
                self.sync.get_status, instance_id, show_history, show_history_output, show_input
            )
        record = await self._reads.get_instance(_checked(instance_id))
        if record is None:
            return None
        history = await self._reads.get_history(instance_id) if show_history else None
        return DurableOrchestrationStatus.from_record(
            record,
            show_input=show_input,
            history=history,
            show_history_output=show_history_output,
            codec=self.sync.codec,
        )

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """As :meth:`Client.get_history`."""
        if self._reads is None:
            return await self._run(self.sync.get_history, instance_id)
        if await self._reads.get_instance(_checked(instance_id)) is None:
            raise InstanceNotFoundError(instance_id)
        return await self._reads.get_history(instance_id)

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
        arguments = (
            runtime_status,
            name,
            instance_id_prefix,
            created_time_from,
            created_time_to,
            page_size,
            continuation_token,
        )
        if self._reads is None:
            return await self._run(self.sync.list_instances, *arguments)
        page = await self._reads.list_instances(self.sync.instance_query(*arguments))
        codec = self.sync.codec
        statuses = [DurableOrchestrationStatus.from_record(r, codec=codec) for r in page.instances]
        return InstancePage(instances=statuses, continuation_token=page.continuation_token)

    async def get_status_all(self) -> list[DurableOrchestrationStatus]:
        """As :meth:`Client.get_status_all`."""
        return await self._run(self.sync.get_status_all)

    async def get_status_by(
        self,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        runtime_status: StatusFilter = None,
    ) -> list[DurableOrchestrationStatus]:
        """As :meth:`Client.get_status_by`."""
        return await self._run(
            self.sync.get_status_by, created_time_from, created_time_to, runtime_status
        )

    # -- purging -----------------------------------------------------------------------
    async def purge_instance_history(
        self, instance_id: str, *, recursive: bool = False
    ) -> PurgeHistoryResult:
        """As :meth:`Client.purge_instance_history`."""
        return await self._run(self.sync.purge_instance_history, instance_id, recursive=recursive)

    async def purge_instance_history_by(
        self,
        created_time_from: _dt.datetime | None = None,
        created_time_to: _dt.datetime | None = None,
        runtime_status: StatusFilter = None,
    ) -> PurgeHistoryResult:
        """As :meth:`Client.purge_instance_history_by`."""
        return await self._run(
            self.sync.purge_instance_history_by, created_time_from, created_time_to, runtime_status
        )

    # -- waiting -----------------------------------------------------------------------
    async def _record(self, instance_id: str) -> InstanceRecord | None:
        if self._reads is not None:
            return await self._reads.get_instance(instance_id)
        return await self._run(self.backend.get_instance, instance_id)

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
                record = watch.record or await self._record(instance_id)
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


POSTGRES_THREADS = 8
"""Store calls under way at once on PostgreSQL, by default."""


def _is_postgres(backend: FastBackend) -> bool:
    # By name: importing the PostgreSQL store would import psycopg.
    return any(cls.__name__ == "PostgresBackend" for cls in type(backend).__mro__)


def _async_reads(backend: FastBackend) -> AsyncReads | None:
    """The async reads of a PostgreSQL store (None for the others)."""
    if not _is_postgres(backend):
        return None
    from durably.backends._pg_async import AsyncReads

    return AsyncReads(backend)  # type: ignore[arg-type]


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
