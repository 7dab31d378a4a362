"""durably.testing.replay: the histories it reads, the orchestrator it picks, what it calls
a divergence, and where it says the divergence is."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import durably
import durably.testing
from durably.backends.memory import MemoryBackend
from durably.history import HistoryEvent, TaskCompleted
from tests.engine import golden

Context = durably.OrchestrationContext
Divergence = durably.NonDeterministicOrchestrationError
Status = durably.OrchestrationRuntimeStatus

app = durably.App()


@app.activity
def charge(order: str) -> str:
    return f"{order} charged"


@app.activity
def ship(order: str) -> str:
    return f"{order} shipped"


@app.orchestrator
def checkout(context: Context) -> Generator[Any, Any, Any]:
    order = context.get_input()
    charged = yield context.call_activity(charge, order)
    approved_by = yield context.wait_for_external_event("Approved")
    shipped = yield context.call_activity(ship, order)
    return {"charged": charged, "approved_by": approved_by, "shipped": shipped}


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _charged(client: durably.Client, instance_id: str) -> bool:
    return any(isinstance(e, TaskCompleted) for e in client.get_history(instance_id))


@pytest.fixture(scope="module")
def histories() -> Iterator[dict[str, list[HistoryEvent]]]:
    """checkout's history while it waits for approval, and once it finished."""
    with durably.Worker(app, store=MemoryBackend(), poll_interval=0.01) as worker:
        client = worker.client()
        client.start_new("checkout", "order-7", "order-7")
        _until(lambda: _charged(client, "order-7"))
        waiting = client.get_history("order-7")
        client.raise_event("order-7", "Approved", "ana")
        client.wait_for_completion("order-7", timeout=30)
        yield {"waiting": waiting, "finished": client.get_history("order-7")}


def variant(orchestrator: Callable[[Context], Any], name: str = "checkout") -> durably.App:
    changed = durably.App()
    changed.orchestrator(name=name)(orchestrator)
    return changed


# -- what it reads --------------------------------------------------------------------
@pytest.mark.parametrize(
    "form", ["events", "dicts", "json text", "json bytes", "path", "str path", "status json"]
)
def test_every_exported_form_replays(
    form: str, histories: dict[str, list[HistoryEvent]], tmp_path: Path
) -> None:
    events = histories["finished"]
    dicts = [e.to_dict() for e in events]
    file = tmp_path / "order-7.json"
    file.write_text(json.dumps(dicts, indent=2))
    given: Any = {
        "events": events,
        "dicts": dicts,
        "json text": json.dumps(dicts),
        "json bytes": json.dumps(dicts).encode(),
        "path": file,
        "str path": str(file),
        "status json": json.dumps({"runtimeStatus": "Completed", "historyEvents": dicts}),
    }[form]
    report = durably.testing.replay(app, given)
    assert report.matches_history, report
    assert (report.name, report.instance_id) == ("checkout", "order-7")
    assert report.events_replayed == len(events)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"42", "not a history: expected a list of events, got int"),
        ('{"instanceId": "x"}', "not a history: a JSON object without a historyEvents list"),
        ("[1]", "not a history: item 0 is a int, not an event"),
        ('[{"EventType": "Nope"}]', "item 0 is not a history event (unknown history event type"),
        ('[{"EventType": "TaskScheduled"}]', "item 0 is not a history event ("),
        ("[]", "no ExecutionStarted event (an instance that has not started has an empty history)"),
    ],
)
def test_what_is_not_a_history_is_refused_by_name(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        durably.testing.replay(app, text)
    assert message in str(caught.value)


def test_unreadable_input_raises_the_reader_s_error(tmp_path: Path) -> None:
    with pytest.raises(json.JSONDecodeError):
        durably.testing.replay(app, "[not json")
    with pytest.raises(FileNotFoundError):
        durably.testing.replay(app, str(tmp_path / "missing.json"))


# -- which orchestrator ----------------------------------------------------------------
def test_an_orchestrator_the_app_lacks_is_named_with_the_known_ones(
    histories: dict[str, list[HistoryEvent]],
) -> None:
    other = variant(checkout, name="refund")
    with pytest.raises(
        ValueError, match="no orchestrator named 'checkout'; known orchestrators: refund"
    ):
        durably.testing.replay(other, histories["finished"])


def test_name_picks_another_orchestrator(histories: dict[str, list[HistoryEvent]]) -> None:
    renamed = variant(checkout, name="checkout_v2")
    report = durably.testing.replay(renamed, histories["finished"], name="checkout_v2")
    assert report.matches_history


# -- a history exported while the instance runs ---------------------------------------
def checkout_with_a_later_step(context: Context) -> Generator[Any, Any, Any]:
    result = yield from checkout(context)
    yield context.call_activity("audit", result)
    return result


def checkout_without_approval(context: Context) -> Generator[Any, Any, Any]:
    charged = yield context.call_activity("charge", context.get_input())
    return {"charged": charged}


def checkout_notifying_while_it_waits(context: Context) -> Generator[Any, Any, Any]:
    order = context.get_input()
    charged = yield context.call_activity("charge", order)
    context.call_activity("notify", order)
    approved_by = yield context.wait_for_external_event("Approved")
    shipped = yield context.call_activity("ship", order)
    return {"charged": charged, "approved_by": approved_by, "shipped": shipped}


def test_a_running_instance_replays_when_the_code_did_what_it_recorded(
    histories: dict[str, list[HistoryEvent]],
) -> None:
    report = durably.testing.replay(app, histories["waiting"])
    assert (report.runtime_status, report.pending_actions) == (Status.Running, ())
    # A step after the point the instance reached is no divergence for it...
    durably.testing.replay(variant(checkout_with_a_later_step), histories["waiting"])
    # ...but is new work after the end for an instance that finished.
    with pytest.raises(Divergence, match=r"activity 'audit' .* new work after its end"):
        durably.testing.replay(variant(checkout_with_a_later_step), histories["finished"])


@pytest.mark.parametrize("which", ["waiting", "finished"])
def test_finishing_where_history_still_runs_is_named_at_that_episode(
    which: str, histories: dict[str, list[HistoryEvent]]
) -> None:
    with pytest.raises(Divergence) as caught:
        durably.testing.replay(variant(checkout_without_approval), histories[which])
    assert str(caught.value).endswith(
        "history position 6: on replay the orchestrator ends Completed with output "
        '{"charged":"order-7 charged"} in the episode at positions 4-6, where history records '
        "it still running" + (" (it records the end at position 14)" if which == "finished" else "")
    )


def test_work_the_recorded_episode_did_not_schedule_is_named(
    histories: dict[str, list[HistoryEvent]],
) -> None:
    with pytest.raises(Divergence) as caught:
        durably.testing.replay(variant(checkout_notifying_while_it_waits), histories["waiting"])
    assert str(caught.value).endswith(
        "history position 6: on replay the orchestrator schedules activity 'notify' with input "
        '"order-7" (task 1), which history does not record in the episode at positions 4-6'
    )
    # replay_history, the report without the check, sees it as what comes next.
    report = durably.testing.replay_history(checkout_notifying_while_it_waits, histories["waiting"])
    assert report.is_replay_safe and [a.task_id for a in report.pending_actions] == [1]


# -- histories that end otherwise ---------------------------------------------------------
@pytest.mark.parametrize("name", sorted(golden.SCENARIOS))
def test_the_engine_golden_histories_replay(name: str) -> None:
    scenario = golden.SCENARIOS[name]
    report = durably.testing.replay(
        variant(scenario.orchestrator, name=scenario.orchestrator.__name__), scenario.path
    )
    assert report.matches_history, report


def counter_skipping(context: Context) -> Generator[Any, Any, Any]:
    count = context.get_input()
    yield context.call_activity("tick", count)
    context.continue_as_new(count + 2)


def failing_order_otherwise(context: Context) -> Generator[Any, Any, Any]:
    order = yield context.call_activity("load_order", context.get_input())
    raise KeyError(order["id"])


@pytest.mark.parametrize(
    ("scenario", "orchestrator", "message"),
    [
        (
            "continue_as_new_carries_late_events",
            counter_skipping,
            "history records the orchestration ContinuedAsNew with input 1, but on replay it "
            "is ContinuedAsNew with input 2",
        ),
        (
            "unhandled_failure",
            failing_order_otherwise,
            "history records the orchestration Failed with ValueError: order order-7 has a "
            "negative total, but on replay it is Failed with KeyError: 'order-7'",
        ),
    ],
)
def test_another_end_is_a_divergence(scenario: str, orchestrator: Any, message: str) -> None:
    path = golden.SCENARIOS[scenario].path
    with pytest.raises(Divergence) as caught:
        durably.testing.replay(variant(orchestrator, name=orchestrator_name(scenario)), path)
    assert str(caught.value).endswith(message)


def orchestrator_name(scenario: str) -> str:
    return golden.SCENARIOS[scenario].orchestrator.__name__


def test_a_failure_a_worker_imposed_is_checked_up_to_its_episode() -> None:
    """A worker failed the instance for nondeterminism after a bad deploy: the history
    still tells whether a fix replays it."""

    def bill_first(context: Context) -> Generator[Any, Any, Any]:
        yield context.call_activity("bill", context.get_input())
        return (yield context.wait_for_external_event("Approved"))

    store = MemoryBackend()
    with durably.Worker(app, store=store, poll_interval=0.01) as worker:
        client = worker.client()
        client.start_new("checkout", "order-8", "order-8")
        _until(lambda: _charged(client, "order-8"))
    with durably.Worker(variant(bill_first), store=store, poll_interval=0.01) as worker:
        client = worker.client()
        client.raise_event("order-8", "Approved", "ana")
        status = client.wait_for_completion("order-8", timeout=30)
        history = client.get_history("order-8")
    assert status.runtime_status is Status.Failed
    assert "NonDeterministicOrchestrationError" in str(status.output)
    assert durably.testing.replay(app, history).runtime_status is Status.Running
    with pytest.raises(
        Divergence, match=r"position 2: .*'charge' \(task 0\), but on replay .*'bill'"
    ):
        durably.testing.replay(variant(bill_first), history)


def test_a_worker_that_lacked_the_orchestrator_imposed_its_failure() -> None:
    """A worker deployed without the orchestrator failed the instance: the history
    replays against an app that has it (up to that failure)."""
    store = MemoryBackend()
    with durably.Worker(durably.App(), store=store, poll_interval=0.01) as worker:
        durably.Client(store).start_new("checkout", "order-9", "order-9")
        status = worker.client().wait_for_completion("order-9", timeout=30)
        history = worker.client().get_history("order-9")
    assert str(status.output).startswith("ValueError: no orchestrator named 'checkout'")
    assert durably.testing.replay(app, history).runtime_status is Status.Running


def test_a_history_cut_short_by_the_history_limit_replays_up_to_that_episode() -> None:
    capped = durably.App(max_history_events=10)
    capped.activity(charge)

    @capped.orchestrator(name="charge_forever")
    def charge_forever(context: Context) -> Generator[Any, Any, Any]:
        while True:
            yield context.call_activity("charge", "order")

    with durably.Worker(capped, store=MemoryBackend(), poll_interval=0.01) as worker:
        client = worker.client()
        client.start_new("charge_forever", "forever")
        status = client.wait_for_completion("forever", timeout=30)
        history = client.get_history("forever")
    assert status.runtime_status is Status.Failed
    assert str(status.output).startswith("HistoryTooLongError")  # imposed by the worker
    report = durably.testing.replay(capped, history)
    assert report.runtime_status is Status.Running
    assert report.events_replayed < len(history)


def test_a_patched_step_replays_histories_from_before_and_after_the_deploy(
    histories: dict[str, list[HistoryEvent]],
) -> None:
    def checkout_patched(context: Context) -> Generator[Any, Any, Any]:
        order = context.get_input()
        charged = yield context.call_activity("charge", order)
        approved_by = yield context.wait_for_external_event("Approved")
        if context.is_patched("audit"):
            yield context.call_activity("audit", order)
        shipped = yield context.call_activity("ship", order)
        return {"charged": charged, "approved_by": approved_by, "shipped": shipped}

    patched = variant(checkout_patched)
    for activity in (charge, ship):
        patched.activity(activity)
    patched.activity(name="audit")(ship)
    durably.testing.replay(patched, histories["finished"])  # the old path, as recorded
    store = MemoryBackend()
    with durably.Worker(patched, store=store, poll_interval=0.01) as worker:
        client = worker.client()
        client.start_new("checkout", "order-9", "order-9")
        client.raise_event("order-9", "Approved", "bo")
        client.wait_for_completion("order-9", timeout=30)
        durably.testing.replay(patched, client.get_history("order-9"))  # the new path
