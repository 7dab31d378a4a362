"""Durable entities on every store: operations applied exactly once and in order,
results and errors to callers, failed operations rolled back, state read by clients."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import durably
from durably import EntityId
from durably.backends.base import Backend
from durably.entities.batch import run_batch
from durably.history import (
    EntityOperationCalled,
    EntityOperationCompleted,
    EntityOperationFailed,
    EntityOperationSignaled,
    FailureDetails,
    HistoryEvent,
)
from tests.tracing.test_tracing import exporter, finished, named  # noqa: F401  (a fixture)

from .app import COUNTER, Account, app, counter

NOW = _dt.datetime(2026, 12, 4, tzinfo=_dt.UTC)


def _worker(backend: Backend) -> durably.Worker:
    return durably.Worker(app, store=backend, poll_interval=0.02)


def _until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- the batch, alone ------------------------------------------------------------------
def _call(operation: str, input_: str | None = None, n: int = 0) -> EntityOperationCalled:
    return EntityOperationCalled(
        timestamp=NOW,
        request_id=f"r{n}",
        operation=operation,
        input=input_,
        parent_instance_id="caller",
        parent_execution_id="e1",
        target_instance_id=COUNTER.instance_id,
    )


def test_a_failed_operation_rolls_back_its_own_change_only() -> None:
    requests = [_call("add", "2", 0), _call("fail_after_change", None, 1), _call("add", "3", 2)]
    outcome = run_batch(counter, COUNTER, None, requests, NOW)
    assert outcome.state == "5"
    answers = [r.event for r in outcome.responses]
    assert isinstance(answers[1], EntityOperationFailed)
    assert answers[1].failure_details.message == "this operation fails"
    assert [getattr(a, "output", None) for a in answers] == ["2", None, "5"]
    assert {r.instance_id for r in outcome.responses} == {"caller"}


def test_class_entities_keep_their_attributes_and_delete() -> None:
    outcome = run_batch(Account, EntityId("account", "a"), None, [_call("deposit", "7")], NOW)
    assert outcome.state == '{"balance":7}'
    unknown = run_batch(Account, EntityId("account", "a"), outcome.state, [_call("nope")], NOW)
    (answer,) = unknown.responses
    assert isinstance(answer.event, EntityOperationFailed)
    assert "operations: deposit, get, withdraw" in answer.event.failure_details.message
    deleted = run_batch(Account, EntityId("account", "a"), outcome.state, [_call("delete")], NOW)
    assert deleted.state is None


def test_entity_events_round_trip_as_json() -> None:
    events: list[HistoryEvent] = [
        _call("add", "1"),
        EntityOperationSignaled(
            timestamp=NOW,
            request_id="s",
            operation="add",
            scheduled_time=NOW,
            target_instance_id="@counter@total",
        ),
        EntityOperationCompleted(timestamp=NOW, request_id="r", output="3"),
        EntityOperationFailed(
            timestamp=NOW,
            request_id="r",
            failure_details=FailureDetails(error_type="ValueError", message="no"),
        ),
    ]
    for event in events:
        assert HistoryEvent.from_json(event.to_json()) == event
        assert event.to_dict()["EventType"] == event.event_type


def test_entity_ids() -> None:
    assert EntityId("Counter", "a@b").instance_id == "@counter@a@b"
    assert EntityId.of("@counter@a@b") == EntityId("counter", "a@b")
    with pytest.raises(ValueError, match="must not contain '@'"):
        EntityId("a@b", "k")
    with pytest.raises(ValueError, match="not an entity"):
        EntityId.of("plain")


# -- on every store --------------------------------------------------------------------
def test_signals_from_many_orchestrations_add_up_exactly(backend: Backend) -> None:
    # The aggregator pattern: 20 orchestrations send 500 signals each to one counter.
    with _worker(backend) as worker:
        client = worker.client()
        ids = [client.start_new("add_many", client_input=[500, 1]) for _ in range(20)]
        for instance_id in ids:
            client.wait_for_completion(instance_id, timeout=60)
        _until(lambda: client.read_entity_state(COUNTER).entity_state == 10_000, timeout=90)
        time.sleep(0.2)  # nothing more arrives: each signal was applied once
        assert client.read_entity_state(COUNTER) == durably.EntityStateResponse(True, 10_000)


def test_calls_answer_results_and_errors_and_roll_back(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        first = client.start_new("call_and_fail", "c1")
        status = client.wait_for_completion(first, timeout=30)
        assert status.output == [5, "ValueError: this operation fails", 5]
        banked = client.wait_for_completion(client.start_new("banking", "b1"), timeout=30)
        assert banked.output == [70, "ValueError: balance 70 is less than 1000", 70]
        assert client.read_entity_state(EntityId("account", "b1")).entity_state == {"balance": 70}


def test_operations_from_one_sender_apply_in_the_order_sent(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("in_order", "o1", 30), timeout=30)
        journal = EntityId("journal", "o1")
        _until(lambda: len(client.read_entity_state(journal).entity_state or []) == 30)
        assert client.read_entity_state(journal).entity_state == list(range(30))


def test_clients_signal_read_and_schedule(backend: Backend) -> None:
    entity = EntityId("counter", "from-client")
    with _worker(backend) as worker:
        client = worker.client()
        assert client.read_entity_state(entity) == durably.EntityStateResponse(False, None)
        later = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=1)
        client.signal_entity(entity, "add", 100, signal_time=later)
        client.signal_entity(entity, "add", 2)
        _until(lambda: client.read_entity_state(entity).entity_state == 2)
        _until(lambda: client.read_entity_state(entity).entity_state == 102)
        assert _dt.datetime.now(_dt.UTC) >= later
        client.signal_entity(("counter", "from-client"), "delete")
        _until(lambda: not client.read_entity_state(entity).entity_exists)


def test_the_documented_keyword_names_work(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("by_keywords", "kw"), 30)
        assert status.output == 7
        tally = EntityId("counter", "kw")
        _until(lambda: client.read_entity_state(entity_id=tally).entity_state == 1)
        client.signal_entity(entity_id=tally, operation="add", input_=2)
        _until(lambda: client.read_entity_state(entity_id=tally).entity_state == 3)


def test_async_orchestrators_await_entities(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("awaits_an_entity", "a1"), 30)
        assert status.output == 3


def test_an_unknown_entity_fails_the_call_naming_the_known_ones(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("calls_a_stranger"), timeout=30)
        assert status.runtime_status.value == "Failed"
        assert "no entity named 'stranger'" in str(status.output)
        assert "account, blink, counter, journal" in str(status.output)
        # A signal has no caller to fail: its failure is in the entity's history.
        client.signal_entity(("stranger", "y"), "hello")
        history = lambda: client.get_history("@stranger@y")  # noqa: E731
        _until(lambda: any(e.event_type == "EntityOperationFailed" for e in history()))
        (failed,) = [e for e in history() if e.event_type == "EntityOperationFailed"]
        assert "no entity named 'stranger'" in failed.to_dict()["FailureDetails"]["ErrorMessage"]


def test_the_entity_history_shows_its_last_batch(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("call_and_fail", "h1"), timeout=30)
        kinds = {e.event_type for e in client.get_history("@counter@h1")}
        assert kinds <= {
            "EntityOperationCalled",
            "EntityOperationCompleted",
            "EntityOperationFailed",
        }
        assert "EntityOperationCalled" in kinds


# -- critical sections -----------------------------------------------------------------
def test_concurrent_transfers_under_locks_preserve_the_total(backend: Backend) -> None:
    accounts = ["x", "y", "z"]
    with _worker(backend) as worker:
        client = worker.client()
        for name in accounts:
            client.signal_entity(EntityId("account", name), "deposit", 100)
        _until(
            lambda: all(
                client.read_entity_state(EntityId("account", n)).entity_exists for n in accounts
            )
        )
        moves = [(accounts[i % 3], accounts[(i + 1) % 3], 7 + i % 5) for i in range(24)]
        ids = [
            client.start_new("transfer" if i % 2 else "transfer_async", client_input=list(m))
            for i, m in enumerate(moves)
        ]
        outcomes = [client.wait_for_completion(i, timeout=120).output for i in ids]
        balances = [
            client.read_entity_state(EntityId("account", n)).entity_state["balance"]
            for n in accounts
        ]
    assert sum(balances) == 300 and all(b >= 0 for b in balances)
    assert outcomes.count(True) >= 1
    expected = {n: 100 for n in accounts}
    for (source, target, amount), moved in zip(moves, outcomes, strict=True):
        if moved:
            expected[source] -= amount
            expected[target] += amount
    assert balances == [expected[n] for n in accounts]


def test_a_failing_holder_releases_its_locks(backend: Backend) -> None:
    held = EntityId("account", "held")
    with _worker(backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("fails_holding_a_lock"), 30)
        assert status.runtime_status.value == "Failed"
        client.signal_entity(held, "deposit", 10)  # would wait forever on a lock kept
        _until(lambda: client.read_entity_state(held).entity_state == {"balance": 11})
        assert client.get_status("@account@held").custom_status is None


# -- the HTTP API, the client twins ----------------------------------------------------
def test_http_routes_read_and_signal_entities(backend: Backend) -> None:
    import httpx

    from tests.web.server import serving

    base = "/runtime/webhooks/durabletask/entities"
    with serving(app, backend) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get(f"{base}/counter/web").status_code == 404
        assert http.post(f"{base}/counter/web?op=add", json=5).status_code == 202
        assert http.post(f"{base}/Counter/web?op=add", json=6).status_code == 202
        _until(lambda: http.get(f"{base}/counter/web").status_code == 200)
        _until(lambda: http.get(f"{base}/counter/web").json() == 11)
        assert http.post(f"{base}/counter/web", json=1).status_code == 400  # no op
        assert http.post(f"{base}/counter/web?op=add", content=b"{").status_code == 400


def test_the_async_client_signals_and_reads(backend: Backend) -> None:
    import asyncio

    entity = EntityId("counter", "async")

    async def main(worker: durably.Worker) -> durably.EntityStateResponse:
        async with worker.async_client() as client:
            await client.signal_entity(entity, "add", 4)
            deadline = time.monotonic() + 30
            while not (found := await client.read_entity_state(entity_id=entity)).entity_exists:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            page = await client.list_entities("counter")
            assert [e.entity_id for e in page.entities] == [entity]
            assert (await client.list_entities("account")).entities == []
            return found

    with _worker(backend) as worker:
        assert asyncio.run(main(worker)) == durably.EntityStateResponse(True, 4)


# -- observability ---------------------------------------------------------------------
def test_entity_operations_are_counted_for_prometheus(tmp_path: Any) -> None:
    import httpx

    from tests.test_metrics import _sample

    store = f"sqlite:///{tmp_path / 'metrics.db'}"
    with durably.Worker(app, store=store, poll_interval=0.02, metrics_port=0) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("call_and_fail", "m1"), timeout=30)
        text = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics").text
    ops = "durably_entity_operations_total"
    assert _sample(text, ops, name="counter", status="Completed") >= 2
    assert _sample(text, ops, name="counter", status="Failed") >= 1


def test_entity_operations_are_spans_under_their_caller(
    backend: Backend,
    exporter: InMemorySpanExporter,  # noqa: F811  (the fixture imported above)
) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("call_and_fail", "t1"), timeout=30)
    spans = finished(exporter)
    (caller,) = named(spans, "orchestration:call_and_fail")
    operations = named(spans, "entity:counter")
    assert len(operations) == 3
    assert {s["parent_id"] for s in operations} == {caller["span_id"]}
    assert {s["trace_id"] for s in operations} == {caller["trace_id"]}
    failed = [s for s in operations if s["status"] == "ERROR"]
    assert [s["attributes"]["durabletask.task.name"] for s in failed] == ["fail_after_change"]
    assert failed[0]["events"] == ["exception"]


def test_continuing_as_new_releases_the_locks(backend: Backend) -> None:
    renewed = EntityId("account", "renewed")
    with _worker(backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(
            client.start_new("continues_holding_a_lock", "c", 0), 30
        )
        assert status.output == 1
        client.signal_entity(renewed, "deposit", 10)  # would wait forever on a lock kept
        _until(lambda: client.read_entity_state(renewed).entity_state == {"balance": 11})


def test_given_up_lock_requests_never_leave_an_entity_locked(backend: Backend) -> None:
    # 70 orchestrations ask for locks held by another and give up (some continuing as
    # new): once the holder releases, both entities are free.
    contended, untouched = EntityId("journal", "contended"), EntityId("journal", "untouched")
    with _worker(backend) as worker:
        client = worker.client()
        client.start_new("holds_then_releases", "holder")
        _until(lambda: client.get_status(contended.instance_id) is not None)
        _until(lambda: "holder" in str(client.get_status(contended.instance_id).custom_status))
        modes = ["continue" if n % 2 else "return" for n in range(70)]
        ids = [client.start_new("tries_a_lock", client_input=mode) for mode in modes]
        for instance_id in ids:
            assert client.wait_for_completion(instance_id, timeout=60).output == "gave up"
        client.raise_event("holder", "release")
        client.wait_for_completion("holder", timeout=30)
        for entity in (contended, untouched):
            client.signal_entity(entity, "append", "free")
            _until(lambda e=entity: "free" in (client.read_entity_state(e).entity_state or []))


def test_the_holder_s_own_signals_keep_their_order(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("signals_then_calls_inside", "s1"), 30)
        journal = EntityId("journal", "s1")
        _until(lambda: len(client.read_entity_state(journal).entity_state or []) == 2)
        assert client.read_entity_state(journal).entity_state == ["signalled", "called"]


def test_nested_sections_and_calls_outside_a_section_are_refused(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        nested = client.wait_for_completion(client.start_new("nests_sections"), 30)
        assert "a critical section is already open" in str(nested.output)
        outside = client.wait_for_completion(client.start_new("calls_outside_its_section"), 30)
        assert "only its entities can be called" in str(outside.output)
        client.signal_entity(EntityId("journal", "n1"), "append", "free")  # released
        _until(lambda: client.read_entity_state(EntityId("journal", "n1")).entity_exists)


def test_a_holder_that_fails_on_replay_releases_its_locks(backend: Backend) -> None:
    # The holder's code changes under it (an activity added before the lock): the next
    # episode's replay fails it, and the locks history records it holding are released.
    changed = durably.App()
    changed.activities.update(app.activities)
    changed.entities.update(app.entities)

    @changed.activity
    def new_step(x: Any) -> Any:
        return x

    @changed.orchestrator(name="holds_then_releases")
    def holds_differently(context: durably.OrchestrationContext) -> Any:
        yield context.call_activity(new_step, 1)
        with (yield context.lock([EntityId("journal", "contended")])):
            yield context.wait_for_external_event("release")
        return "released"

    contended = EntityId("journal", "contended")
    with _worker(backend) as worker:
        client = worker.client()
        client.start_new("holds_then_releases", "old-holder")
        _until(lambda: "old-holder" in str(client.get_status(contended.instance_id).custom_status))
    with durably.Worker(changed, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        client.raise_event("old-holder", "release")
        status = client.wait_for_completion("old-holder", timeout=30)
        assert status.runtime_status.value == "Failed"
        _until(lambda: client.get_status(contended.instance_id).custom_status is None)


def test_rewinding_an_instance_that_used_entities_is_refused(backend: Backend) -> None:
    with _worker(backend) as worker:
        client = worker.client()
        failed = client.start_new("fails_holding_a_lock", "r1")
        assert client.wait_for_completion(failed, timeout=30).runtime_status.value == "Failed"
        with pytest.raises(ValueError, match="rewinding it is not supported"):
            client.rewind("r1")


def test_a_batch_delivered_too_often_fails_its_operations_unrun() -> None:
    # An operation that kills its worker every time: after max_dequeue_count deliveries
    # the batch's calls fail with PoisonWorkError and the state stays as it was.
    from durably.backends.base import InboxMessage, InstanceRecord, OrchestrationWorkItem
    from durably.worker.entities import entity_commit

    call = _call("add", "1")
    record = InstanceRecord(
        instance_id=COUNTER.instance_id,
        name="@counter",
        execution_id="x",
        runtime_status=durably.OrchestrationRuntimeStatus.Running,
        input="41",
        created_time=NOW,
        last_updated_time=NOW,
    )
    item = OrchestrationWorkItem(
        instance=record,
        messages=(InboxMessage(message_id=1, event=call, execution_id=None),),
        lock_token="t",
        dequeue_count=7,
    )
    poison = FailureDetails(error_type="PoisonWorkError", message="delivered 6 times")
    commit = entity_commit(item, app, NOW, poison=poison)
    assert commit.input == "41"
    (answer,) = commit.messages
    assert isinstance(answer.event, EntityOperationFailed)
    assert answer.event.failure_details.error_type == "PoisonWorkError"
