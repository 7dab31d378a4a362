"""AsyncClient: every Client method as a coroutine that never blocks the event loop, on
every store; wait_for_completion woken by the store's notifications, many waiters at
once on one thread."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import durably
from durably.async_store import POSTGRES_THREADS
from durably.backends.base import Backend

app = durably.App()


@app.activity
def double(x: int) -> int:
    return 2 * x


@app.orchestrator
async def doubled(context: durably.OrchestrationContext) -> Any:
    return await context.call_activity(double, context.get_input())


@app.orchestrator
def approval(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("approve"))


def test_every_method_as_a_coroutine(backend: Backend) -> None:
    async def scenario(client: durably.AsyncClient) -> None:
        first = await client.start_new(doubled, "d1", 21)
        assert (await client.wait_for_completion(first, timeout=30)).output == 42
        status = await client.get_status("d1", show_history=True)
        assert status is not None and status.history is not None
        assert [e.event_type for e in await client.get_history("d1")][1] == "ExecutionStarted"
        await client.start_new("approval", "a1")
        await client.suspend("a1", "lunch")
        await client.resume("a1")
        await client.raise_event("a1", "approve", "yes")
        assert (await client.wait_for_completion("a1", timeout=30)).output == "yes"
        await client.start_new("approval", "a2")
        assert await client.terminate("a2", "no") is True
        await client.wait_for_completion("a2", timeout=30)
        page = await client.list_instances(runtime_status="Completed")
        assert sorted(s.instance_id for s in page.instances) == ["a1", "d1"]
        assert len(await client.get_status_all()) == 3
        assert len(await client.get_status_by(runtime_status="Terminated")) == 1
        again = await client.restart("d1", "d2")
        assert (await client.wait_for_completion(again, timeout=30)).output == 42
        assert (await client.purge_instance_history("d2")).instances_deleted == 1
        purged = await client.purge_instance_history_by(runtime_status="Terminated")
        assert purged.instances_deleted == 1
        with pytest.raises(durably.InstanceNotFoundError):
            await client.wait_for_completion("nobody", timeout=5)
        with pytest.raises(ValueError, match="no orchestrator named 'nope'"):
            await client.start_new("nope")
        with pytest.raises(durably.InvalidInstanceStateError):
            await client.rewind("a1")

    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:

        async def main() -> None:
            async with worker.async_client() as client:
                await scenario(client)

        asyncio.run(main())


def test_the_event_loop_keeps_running_while_calls_and_waits_are_under_way(
    backend: Backend,
) -> None:
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> list[Any]:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        async with durably.AsyncClient(backend, app=app) as client:
            ids = [await client.start_new("approval", f"w{n}") for n in range(50)]
            before = threading.active_count()
            waits = [asyncio.create_task(client.wait_for_completion(i, timeout=60)) for i in ids]
            await asyncio.sleep(0.3)  # fifty waiters under way
            added = threading.active_count() - before
            pending = sum(not wait.done() for wait in waits)
            ticked = ticks  # another coroutine kept running meanwhile
            for instance_id in ids:
                await client.raise_event(instance_id, "approve", instance_id)
            done = await asyncio.gather(*waits)
        stop.set()
        await tick
        # The listener, and at most the client's own threads: not one per waiter.
        assert added <= 1 + POSTGRES_THREADS, f"{added} threads for 50 waiters"
        assert pending == 50 and ticked > 0
        return [status.output for status in done]

    with durably.Worker(app, store=backend, poll_interval=0.02):
        outputs = asyncio.run(main())
    assert outputs == [f"w{n}" for n in range(50)]


def test_wait_for_completion_times_out(backend: Backend) -> None:
    async def main() -> None:
        async with durably.AsyncClient(backend, app=app) as client:
            await client.start_new("approval", "slow")
            with pytest.raises(TimeoutError, match="still Pending"):
                await client.wait_for_completion("slow", timeout=0.2)

    asyncio.run(main())


@pytest.mark.postgres
def test_on_postgres_every_call_needs_no_thread() -> None:
    # With every one of the client's threads busy, every call still answers: reads and
    # writes run on psycopg's async connections, on the event loop.
    from tests import pg

    store = pg.with_query(pg.server_url(), task_hub=f"async-calls-{time.monotonic_ns()}")

    async def scenario(client: durably.AsyncClient) -> None:
        await client.start_new("approval", "r1", None)
        status = await client.get_status("r1", show_history=True)
        assert status is not None and status.runtime_status in ("Pending", "Running")
        page = await client.list_instances()
        assert [s.instance_id for s in page.instances] == ["r1"]
        with pytest.raises(TimeoutError):
            await client.wait_for_completion("r1", timeout=0.2)
        await client.suspend("r1")
        await client.resume("r1")
        await client.raise_event("r1", "approve", "yes")
        assert (await client.wait_for_completion("r1", timeout=30)).output == "yes"
        with pytest.raises(durably.InstanceExistsError):
            await client.start_new("approval", "t1")
            await client.start_new("approval", "t1")
        assert await client.terminate("t1") is True
        await client.wait_for_completion("t1", timeout=30)
        # A finished instance's id is taken again: replaced in one transaction.
        assert await client.restart("r1") == "r1"
        await client.raise_event("r1", "approve", "again")
        assert (await client.wait_for_completion("r1", timeout=30)).output == "again"
        assert len(await client.get_history("r1")) > 2
        assert len(await client.get_status_all()) == 2
        assert (await client.purge_instance_history("t1")).instances_deleted == 1
        with pytest.raises(durably.InstanceNotFoundError):
            await client.purge_instance_history("t1")
        with pytest.raises(durably.InstanceNotFoundError):
            await client.raise_event("nobody", "approve")
        purged = await client.purge_instance_history_by(runtime_status="Completed")
        assert purged.instances_deleted == 1
        assert await client.get_status_all() == []

    async def main() -> None:
        async with durably.AsyncClient(store, app=app) as client:
            release = threading.Event()
            loop = asyncio.get_running_loop()
            busy = [
                loop.run_in_executor(client._thread, release.wait, 60)
                for _ in range(POSTGRES_THREADS)
            ]
            try:
                await asyncio.wait_for(scenario(client), 60)
            finally:
                release.set()
                await asyncio.gather(*busy)

    with durably.Worker(app, store=store, poll_interval=0.02):
        asyncio.run(main())
