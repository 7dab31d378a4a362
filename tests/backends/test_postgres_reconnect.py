"""A PostgreSQL client survives its connections being cut: reads are tried again on new
connections, and a start or an event whose outcome was lost is checked, never doubled."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import durably
from durably.backends.base import NewMessage
from durably.backends.postgres import PostgresBackend
from durably.backends.sql.dialect import Disconnected
from tests import pg

pytestmark = pytest.mark.postgres
app = durably.App()


@app.orchestrator
def waits(context: durably.OrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("go"))


@pytest.fixture
def name() -> str:
    return f"durably-reconnect-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def url(name: str) -> str:
    hub = f"rc-{uuid.uuid4().hex[:10]}"
    return pg.with_query(pg.server_url(), task_hub=hub, application_name=name, pool_max=2)


@pytest.fixture
def client(url: str) -> Iterator[durably.Client]:
    with durably.Client(url, app=app) as opened:
        yield opened


def test_calls_go_on_while_every_connection_is_cut(
    url: str, name: str, client: durably.Client
) -> None:
    instance_id = client.start_new(waits)
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                assert client.get_status(instance_id) is not None
                client.list_instances()
                client.get_history(instance_id)
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)
                return

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        cuts = 0
        for _ in range(20):
            time.sleep(0.05)
            cuts += pg.terminate(url, name)
    finally:
        stop.set()
        thread.join(30)
    assert errors == [] and cuts >= 10  # (a cut may find no connection open at the time)
    pg.terminate(url, name)
    client.raise_event(instance_id, "go", "after the cuts")
    with durably.Worker(app, store=url) as worker:
        status = worker.client().wait_for_completion(instance_id, timeout=30)
    assert status.output == "after the cuts"


class _LosesTheAnswer(PostgresBackend):
    """Writes, then loses the connection before the answer arrives (once)."""

    lost = 0

    def _at_once(self, template: str, params: tuple[Any, ...], visible_at: Any) -> int:
        count = super()._at_once(template, params, visible_at)
        if not self.lost:
            self.lost += 1
            raise Disconnected("the server ended the connection after the commit")
        return count


def test_a_write_whose_answer_was_lost_is_checked_not_repeated(url: str) -> None:
    backend = _LosesTheAnswer.from_url(url, durably.backends.parse_options(url))
    try:
        client = durably.Client(backend, app=app)
        instance_id = client.start_new(waits, instance_id="once")
        assert backend.lost == 1
        backend.lost = 0
        client.raise_event(instance_id, "go", "exactly once")
        assert backend.lost == 1
        with durably.Worker(app, store=backend) as worker:
            status = worker.client().wait_for_completion(instance_id, timeout=30)
        history = client.get_history(instance_id)
        raised = [e for e in history if e.event_type == "EventRaised"]
        starts = [e for e in history if e.event_type == "ExecutionStarted"]
        assert (status.output, len(raised), len(starts)) == ("exactly once", 1, 1)
        # The check finds an event the worker has already moved into history.
        sent = NewMessage(instance_id=instance_id, event=raised[0], visible_at=raised[0].timestamp)
        assert backend._has(sent) is True
    finally:
        backend.close()


def test_the_async_client_goes_on_while_its_connections_are_cut(url: str, name: str) -> None:
    # The AsyncClient's own async pool: reads are tried again, and events whose answer
    # may have been lost are checked, so each lands exactly once.
    import asyncio

    async def main() -> tuple[str, int]:
        async with durably.AsyncClient(url, app=app) as client:
            instance_id = await client.start_new(waits)
            sent = 0
            for n in range(20):
                await asyncio.to_thread(pg.terminate, url, name)
                assert await client.get_status(instance_id) is not None
                await client.list_instances()
                await client.raise_event(instance_id, "note", n)
                sent += 1
            await client.raise_event(instance_id, "go", "after the cuts")
            return instance_id, sent

    instance_id, sent = asyncio.run(main())
    with durably.Worker(app, store=url) as worker:
        client = worker.client()
        assert client.wait_for_completion(instance_id, timeout=30).output == "after the cuts"
        notes = [e for e in client.get_history(instance_id) if e.event_type == "EventRaised"]
    assert sorted(e.input for e in notes if e.name == "note") == sorted(map(str, range(sent)))
