"""The store calls an :class:`~durably.async_client.AsyncClient` makes, as coroutines:
PostgreSQL's on psycopg's async connections (:mod:`durably.backends._pg_async`), any
other store's on the client's threads."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from durably.backends.base import (
    EntityPurging,
    FastBackend,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    RecordPage,
)
from durably.entities.client import send_to_entity
from durably.history import HistoryEvent

T = TypeVar("T")


POSTGRES_THREADS = 8
"""Store calls under way at once on PostgreSQL, by default."""


def is_postgres(backend: FastBackend) -> bool:
    # By name: importing the PostgreSQL store would import psycopg.
    return any(cls.__name__ == "PostgresBackend" for cls in type(backend).__mro__)


class AsyncStore(Protocol):
    """The store calls an AsyncClient makes, as coroutines."""

    async def get_instance(self, instance_id: str) -> InstanceRecord | None: ...
    async def get_history(self, instance_id: str) -> list[HistoryEvent]: ...
    async def list_instances(self, query: InstanceQuery) -> RecordPage: ...
    async def create_instance(self, new: NewInstance) -> None: ...
    async def send_message(self, message: NewMessage) -> None: ...
    async def purge_instance(self, instance_id: str) -> bool: ...
    async def purge_instances(self, query: InstanceQuery) -> int: ...
    async def send_to_entity(self, row: NewInstance, message: NewMessage) -> None: ...
    async def close(self) -> None: ...


def async_store(backend: FastBackend, thread: ThreadPoolExecutor) -> AsyncStore:
    """PostgreSQL's calls on async connections; any other store's on ``thread``."""
    if is_postgres(backend):
        from durably.backends._pg_async import PgAsyncStore

        return PgAsyncStore(backend)  # type: ignore[arg-type]
    return ThreadedStore(backend, thread)


class ThreadedStore:
    """A blocking store's calls, each run on the client's threads."""

    def __init__(self, backend: FastBackend, thread: ThreadPoolExecutor) -> None:
        self._backend = backend
        self._thread = thread

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(call, *args))

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return await self._run(self._backend.get_instance, instance_id)

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self._run(self._backend.get_history, instance_id)

    async def list_instances(self, query: InstanceQuery) -> RecordPage:
        return await self._run(self._backend.list_instances, query)

    async def create_instance(self, new: NewInstance) -> None:
        await self._run(self._backend.create_instance, new)

    async def send_message(self, message: NewMessage) -> None:
        await self._run(self._backend.send_message, message)

    async def purge_instance(self, instance_id: str) -> bool:
        return await self._run(self._backend.purge_instance, instance_id)

    async def purge_instances(self, query: InstanceQuery) -> int:
        return await self._run(self._backend.purge_instances, query)

    async def send_to_entity(self, row: NewInstance, message: NewMessage) -> None:
        backend = self._backend
        if isinstance(backend, EntityPurging):
            await self._run(backend.send_to_entity, row, message)
        else:
            await self._run(send_to_entity, backend, row, message)

    async def close(self) -> None:
        pass
