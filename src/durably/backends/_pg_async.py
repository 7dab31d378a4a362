"""The AsyncClient's store calls on PostgreSQL, on psycopg's async connections and pool:
the status reads of :mod:`durably.backends.sql.reads`, and the client's writes (a new
instance, a message, purges), carried out without a thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from durably.backends._codec import to_micros
from durably.backends.base import (
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    RecordPage,
)
from durably.backends.postgres import CREATE_AT_ONCE, ENQUEUE_AT_ONCE, SENT, PostgresBackend
from durably.backends.sql import reads, rows
from durably.backends.sql import statements as q
from durably.backends.sql.instances import where_of
from durably.errors import (
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    StoreError,
)
from durably.history import ACTIVE_STATUSES, TERMINAL_STATUSES, HistoryEvent

T = TypeVar("T")
POOL_SIZE = 8
"""Store calls under way at once, at most."""

_DELETES = (q.DELETE_HISTORY, q.DELETE_INBOX, q.DELETE_ACTIVITIES, q.DELETE_INSTANCE)
_NOTIFY = "SELECT pg_notify(?, ?)"


class Disconnected(Exception):
    """The connection broke during a call (it may be tried again)."""


class PgAsyncStore:
    """``backend``'s store on an async pool of its own, opened at first use on the
    running event loop: what the AsyncClient reads and writes."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend
        self._hub = backend.task_hub
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None

    # -- reads -----------------------------------------------------------------------
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return await self._reading(lambda: reads.instance(self._hub, instance_id))

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return await self._reading(lambda: reads.history(self._hub, instance_id))

    async def list_instances(self, query: InstanceQuery) -> RecordPage:
        where, params = where_of(query)
        return await self._reading(lambda: reads.page(self._hub, query, where, params))

    # -- writes ----------------------------------------------------------------------
    async def create_instance(self, new: NewInstance) -> None:
        """As :meth:`PostgresBackend.create_instance`: one statement for a new id; a
        taken one is replaced if finished (``InstanceExistsError`` if active)."""
        event = rows.event_text(new.start_event, new.input)
        row = (*rows.new_instance(self._hub, new), to_micros(new.visible_at), event)
        channel, payload = self._backend.notice("orchestration", new.visible_at)

        async def create() -> bool:
            if not await self._at_once(CREATE_AT_ONCE, (*row, channel, payload)):
                await self._run(_replace(self._hub, new, channel, payload), transaction=True)
            return True

        async def landed() -> bool | None:
            record = await self.get_instance(new.instance_id)
            return True if record and record.execution_id == new.execution_id else None

        await self._writing_once(create, landed)
        self._backend.wrote("orchestration", new.visible_at, created=1)

    async def send_message(self, message: NewMessage) -> None:
        """As :meth:`PostgresBackend.send_message`."""
        event = message.event.to_json()
        channel, payload = self._backend.notice("orchestration", message.visible_at)
        params = (message.execution_id, to_micros(message.visible_at), event, self._hub)

        async def send() -> bool:
            sent = (*params, message.instance_id, channel, payload)
            if not await self._at_once(ENQUEUE_AT_ONCE, sent):
                raise InstanceNotFoundError(message.instance_id)
            return True

        async def landed() -> bool | None:
            found = await self._reading(
                lambda: _one(SENT, (self._hub, message.instance_id, event) * 2)
            )
            return True if found else None

        await self._writing_once(send, landed)
        self._backend.wrote("orchestration", message.visible_at)

    async def send_to_entity(self, row: NewInstance, message: NewMessage) -> None:
        """As :meth:`SqlBackend.send_to_entity`: guarded against purges, one transaction."""
        channel, payload = self._backend.notice("orchestration", message.visible_at)
        guard = self._backend.dialect.entity_guard
        assert guard is not None

        plan = _send_to_entity(self._hub, guard, row, message, channel, payload)
        try:  # not tried again: an entity's history cannot tell whether it landed
            await self._run(plan, transaction=True)
        except Disconnected as exc:
            raise StoreError(f"{exc}; the operation may or may not have been sent") from exc
        self._backend.wrote("orchestration", message.visible_at)

    async def purge_instance(self, instance_id: str) -> bool:
        """As :meth:`PostgresBackend.purge_instance`."""
        channel, payload = self._backend.notice("status")

        async def purge() -> bool:
            plan = _purge(self._hub, [instance_id], channel, payload, check=True)
            return bool(await self._run(plan, transaction=True))

        async def landed() -> bool | None:  # a broken purge of an instance gone since did it
            return None if await self.get_instance(instance_id) else True

        purged = await self._writing_once(purge, landed)
        if purged:
            self._backend.wrote("status")
        return purged

    async def purge_instances(self, query: InstanceQuery) -> int:
        """As :meth:`PostgresBackend.purge_instances`."""
        channel, payload = self._backend.notice("status")
        where, params = where_of(query)
        statuses = sorted(s.value for s in TERMINAL_STATUSES)
        where += f" AND runtime_status IN ({q.marks(len(statuses))})"
        select = f"SELECT instance_id FROM durably_instances WHERE {where}{{for_update}}"

        async def purge() -> int:
            doomed = await self._run(_one(select, (self._hub, *params, *statuses)))
            ids = [found[0] for found in doomed]
            plan = _purge(self._hub, ids, channel, payload, check=False)
            return await self._run(plan, transaction=True)

        async def landed() -> int | None:
            return None  # purging again is harmless

        purged = await self._writing_once(purge, landed)
        if purged:
            self._backend.wrote("status")
        return purged

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- carrying plans out --------------------------------------------------------------
    async def _reading(self, plan: Callable[[], reads.Plan[T]]) -> T:
        """A read (a new plan for each try), tried again while the connection breaks
        (within ``reconnect_for``)."""
        started, attempt = time.monotonic(), 0
        while True:
            try:
                return await self._run(plan())
            except Disconnected as exc:
                if not await self._again(started, attempt):
                    raise StoreError(str(exc)) from exc
                attempt += 1

    async def _writing_once(
        self, write: Callable[[], Awaitable[T]], landed: Callable[[], Awaitable[T | None]]
    ) -> T:
        """``write()``, tried again while the connection breaks, unless ``landed()`` finds
        that the broken try wrote after all (as the blocking store does)."""
        started, attempt = time.monotonic(), 0
        while True:
            try:
                return await write()
            except Disconnected as exc:
                while True:
                    if not await self._again(started, attempt):
                        raise StoreError(str(exc)) from exc
                    attempt += 1
                    try:
                        outcome = await landed()
                        break
                    except (Disconnected, StoreError):
                        continue
                if outcome is not None:
                    return outcome

    async def _again(self, started: float, attempt: int) -> bool:
        if time.monotonic() - started >= self._backend.reconnect_for:
            return False
        await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        return True

    async def _at_once(self, statement: str, params: tuple[Any, ...]) -> int:
        """A statement that is its own transaction; the count it reports."""
        found = await self._run(_one(statement, params))
        return int(found[0][0]) if found else 0

    async def _run(self, plan: reads.Plan[T], *, transaction: bool = False) -> T:
        """Carry ``plan`` out on one connection (in one transaction if ``transaction``)."""
        pool = await self._open()
        dialect = self._backend.dialect
        try:
            async with pool.connection() as connection:
                if transaction:
                    async with connection.transaction():
                        return await _carry(connection, plan, dialect.render)
                return await _carry(connection, plan, dialect.render)
        except psycopg_pool.PoolTimeout as exc:
            raise StoreError(f"PostgreSQL store {self._backend.where}: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise Disconnected(f"PostgreSQL store {self._backend.where}: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store {self._backend.where}: {exc}") from exc

    async def _open(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        if self._pool is None:
            backend = self._backend
            pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
                backend.conninfo,
                kwargs={**backend.connect_kwargs, "autocommit": True},
                min_size=1,
                max_size=POOL_SIZE,
                timeout=backend.reconnect_for,
                name="durably-async-client",
                open=False,
            )
            await pool.open()
            self._pool = pool
        return self._pool


async def _carry(
    connection: psycopg.AsyncConnection[Any], plan: reads.Plan[T], render: Callable[[str], str]
) -> T:
    try:
        request = next(plan)
        while True:
            template, params = request
            cursor = await connection.execute(render(template), params)
            found = [tuple(r) for r in await cursor.fetchall()] if cursor.description else []
            request = plan.send(found)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _one(statement: str, params: tuple[Any, ...]) -> reads.Plan[reads.Rows]:
    """A plan of one statement; its rows. (Statements written with ``%s`` already pass
    through rendering unchanged.)"""
    found = yield statement, params
    return found


def _replace(hub: str, new: NewInstance, channel: str, payload: str) -> reads.Plan[None]:
    """Create ``new`` over a finished instance with its id (``InstanceExistsError`` if
    the instance is active), in one transaction."""
    existing = yield q.SELECT_STATUS, (hub, new.instance_id)
    if existing and existing[0][0] in ACTIVE_STATUSES:
        raise InstanceExistsError(new.instance_id, existing[0][0])
    for statement in _DELETES:
        yield statement, (hub, new.instance_id)
    inserted = yield q.INSERT_INSTANCE + " RETURNING 1", rows.new_instance(hub, new)
    if not inserted:  # a concurrent transaction created it after the delete
        raise InstanceExistsError(new.instance_id, "Pending")
    text = rows.event_text(new.start_event, new.input)
    at = to_micros(new.visible_at)
    yield q.INSERT_MESSAGE, (hub, new.instance_id, new.execution_id, at, text)
    yield _NOTIFY, (channel, payload)


def _send_to_entity(
    hub: str, guard: str, row: NewInstance, message: NewMessage, channel: str, payload: str
) -> reads.Plan[None]:
    yield guard, (hub, row.instance_id)
    yield q.INSERT_INSTANCE, rows.new_instance(hub, row)  # there already: nothing
    event = message.event.to_json()
    at = to_micros(message.visible_at)
    params = (message.execution_id, at, event, hub, message.instance_id)
    yield q.ENQUEUE_IF_EXISTS, params
    yield _NOTIFY, (channel, payload)


def _purge(
    hub: str, instance_ids: list[str], channel: str, payload: str, *, check: bool
) -> reads.Plan[int]:
    """Delete finished instances with their history, inbox and activity work (with
    ``check``, the one instance's status is read first under a row lock: 0 if unknown,
    ``InvalidInstanceStateError`` if active); how many."""
    if check:
        (instance_id,) = instance_ids
        found = yield q.SELECT_STATUS, (hub, instance_id)
        if not found:
            return 0
        if found[0][0] not in TERMINAL_STATUSES:
            raise InvalidInstanceStateError(instance_id, found[0][0], "purge")
    for instance_id in instance_ids:
        for statement in _DELETES:
            yield statement, (hub, instance_id)
    if instance_ids:
        yield _NOTIFY, (channel, payload)
    return len(instance_ids)
