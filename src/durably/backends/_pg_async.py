"""AsyncClient's reads on PostgreSQL, on psycopg's async connections and pool: the
status reads of :mod:`durably.backends.sql.reads`, carried out without a thread."""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
import psycopg_pool

from durably.backends.base import InstanceQuery, InstanceRecord, RecordPage
from durably.backends.postgres import PostgresBackend
from durably.backends.sql import reads
from durably.backends.sql.instances import where_of
from durably.errors import StoreError
from durably.history import HistoryEvent

T = TypeVar("T")
POOL_SIZE = 8
"""Reads under way at once, at most."""


class AsyncReads:
    """Reads of ``backend``'s store on an async pool of their own, opened at first use
    on the running event loop."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return await self._run(reads.instance(self._backend.task_hub, instance_id))

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self._run(reads.history(self._backend.task_hub, instance_id))

    async def list_instances(self, query: InstanceQuery) -> RecordPage:
        where, params = where_of(query)
        return await self._run(reads.page(self._backend.task_hub, query, where, params))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _run(self, plan: reads.Plan[T]) -> T:
        pool = await self._open()
        dialect = self._backend.dialect
        try:
            async with pool.connection() as connection:
                try:
                    request = next(plan)
                    while True:
                        template, params = request
                        cursor = await connection.execute(dialect.render(template), params)
                        found = [tuple(row) for row in await cursor.fetchall()]
                        request = plan.send(found)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreError(f"PostgreSQL read failed ({self._backend.where}): {exc}") from exc

    async def _open(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        if self._pool is None:
            backend = self._backend
            pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
                backend.conninfo,
                kwargs={**backend.connect_kwargs, "autocommit": True},
                min_size=1,
                max_size=POOL_SIZE,
                timeout=backend.reconnect_for,
                name="durably-async-reads",
                open=False,
            )
            await pool.open()
            self._pool = pool
        return self._pool
