"""Golden histories: the orchestrators, and the scripted episodes that recorded them.

Each scenario drives one orchestrator through hand-written episodes; its history, as
``HistoryEvent.to_dict()`` dicts, is committed under ``histories/<name>.json``. Tests
replay the files against the orchestrators below (which must keep replaying them) and
check that recording the scenario again gives the very same history. After a deliberate
change to what the engine records, regenerate the files from the repository root with::

    .venv/bin/python -m tests.engine.golden
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durably.engine.context import OrchestrationContext
from durably.engine.retry import RetryOptions
from durably.errors import TaskFailedError
from durably.history import HistoryEvent

from .helpers import (
    Orchestrator,
    Run,
    at,
    completed,
    failed,
    fired,
    raised,
    resumed,
    started,
    sub_completed,
    sub_failed,
    suspended,
    terminated,
)

HISTORIES = Path(__file__).parent / "histories"
RETRY = RetryOptions(
    first_retry_interval_in_milliseconds=5000, max_number_of_attempts=4, backoff_coefficient=2.0
)


# -- the orchestrators ----------------------------------------------------------------
def hello_sequence(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("say_hello", city)))
    return results


def fan_out_fan_in(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    files = yield context.call_activity("list_files", context.get_input())
    sizes = yield context.task_all([context.call_activity("measure", f) for f in files])
    return {"files": len(files), "total": sum(sizes)}


def charge_with_retry(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    receipt = yield context.call_activity_with_retry("charge", RETRY, context.get_input())
    yield context.call_activity("email", receipt)
    return receipt


def approval_workflow(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    request = context.get_input()
    yield context.call_activity("request_approval", request)
    try:
        answer = yield context.wait_for_external_event("Approval", timeout=3600)
    except TimeoutError:
        yield context.call_activity("escalate", request)
        answer = yield context.wait_for_external_event("Approval")
        answer = f"escalated, then {answer}"
    yield context.call_activity("notify", answer)
    return answer


def provision_devices(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    devices = context.get_input()
    children = [context.call_sub_orchestrator("provision_device", d) for d in devices]
    outcomes = []
    for device, child in zip(devices, children, strict=True):
        try:
            outcomes.append((yield child))
        except TaskFailedError as error:
            outcomes.append(f"{device}: {error.message}")
    context.set_custom_status({"provisioned": len(outcomes)})
    return outcomes


def monitor(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    polls = 0
    while True:
        polls += 1
        state = yield context.call_activity("check_job", job)
        if state == "done":
            return {"job": job, "polls": polls, "id": context.new_uuid()}
        yield context.create_timer(context.current_utc_datetime + _dt.timedelta(minutes=1))


def failing_order(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    order = yield context.call_activity("load_order", context.get_input())
    if order["total"] < 0:
        raise ValueError(f"order {order['id']} has a negative total")
    return order


def eternal_counter(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    count = context.get_input()
    yield context.call_activity("tick", count)
    context.continue_as_new(count + 1)


def process_order(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    order = context.get_input()
    reserved = yield context.call_activity("reserve_stock", order)
    charged = yield context.call_activity("charge_card", reserved)
    yield context.call_activity("ship", charged)
    return "shipped"


def process_order_renamed(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    """A nondeterministic change of process_order: charge_card became bill_customer."""
    order = context.get_input()
    reserved = yield context.call_activity("reserve_stock", order)
    charged = yield context.call_activity("bill_customer", reserved)
    yield context.call_activity("ship", charged)
    return "shipped"


def process_order_early_exit(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    """A nondeterministic change of process_order: it now stops after reserving."""
    yield context.call_activity("reserve_stock", context.get_input())
    return "reserved only"


def process_order_with_audit(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    """A replay-safe change of process_order: a new step after every recorded one."""
    result = yield from process_order(context)
    yield context.call_activity("audit", result)
    return result


# -- the scenarios --------------------------------------------------------------------
Episode = tuple[float, tuple[HistoryEvent, ...]]


@dataclass(frozen=True)
class Scenario:
    name: str
    orchestrator: Orchestrator
    input: Any
    episodes: tuple[Episode, ...]

    @property
    def path(self) -> Path:
        return HISTORIES / f"{self.name}.json"


def _scenario(name: str, orchestrator: Orchestrator, input_: Any, *episodes: Episode) -> Scenario:
    return Scenario(name, orchestrator, input_, episodes)


SCENARIOS = {
    s.name: s
    for s in (
        _scenario(
            "function_chaining",
            hello_sequence,
            None,
            (1, (completed(0, "Hello Tokyo!", when=1),)),
            (2, (completed(1, "Hello Seattle!", when=2),)),
            (3, (completed(2, "Hello London!", when=3),)),
        ),
        _scenario(
            "fan_out_fan_in",
            fan_out_fan_in,
            "/data",
            (1, (completed(0, ["a", "b", "c"]),)),
            (2, (completed(3, 30), completed(1, 10))),
            (3, (completed(3, 30),)),  # a duplicate: dropped, not recorded
            (4, (completed(2, 20),)),
        ),
        _scenario(
            "retry_then_success",
            charge_with_retry,
            {"order": 42},
            (1, (failed(0, "ConnectionError", "gateway down"),)),
            (6, (fired(1, at(6)),)),
            (7, (failed(2, "ConnectionError", "gateway down"),)),
            (17, (fired(3, at(17)),)),
            (18, (completed(4, "receipt-42"),)),
            (19, (completed(5),)),
        ),
        _scenario(
            "approval_in_time",
            approval_workflow,
            "buy a boat",
            (1, (completed(0),)),
            (60, (raised("approval", "yes by ana", when=60),)),
            (3601, (fired(1, at(3601)),)),  # the cancelled timeout: dropped
            (3602, (completed(2),)),
        ),
        _scenario(
            "approval_after_timeout",
            approval_workflow,
            "buy a boat",
            (1, (completed(0),)),
            (3601, (fired(1, at(3601)),)),
            (3602, (raised("Approval", "yes by the manager", when=3602),)),
            (3603, (completed(2),)),
            (3604, (completed(3),)),
        ),
        _scenario(
            "sub_orchestrations",
            provision_devices,
            ["a1", "b2", "c3"],
            (1, (sub_completed(2, "c3 ok"), sub_failed(1, "TimeoutError", "b2 unreachable"))),
            (2, (sub_completed(0, "a1 ok"),)),
        ),
        _scenario(
            "monitor_in_flight",
            monitor,
            "nightly",
            (1, (completed(0, "running"),)),
            (61, (fired(1, at(61)),)),
            (62, (completed(2, "running"),)),
        ),
        _scenario(
            "monitor_suspended_and_resumed",
            monitor,
            "nightly",
            (1, (completed(0, "running"),)),
            (30, (suspended(when=30),)),
            (61, (fired(1, at(61)),)),
            (90, (resumed(when=90),)),
            (91, (completed(2, "done"),)),
        ),
        _scenario(
            "terminated",
            monitor,
            "nightly",
            (1, (completed(0, "running"),)),
            (30, (terminated("not needed any more", when=30),)),
        ),
        _scenario(
            "unhandled_failure",
            failing_order,
            "order-7",
            (1, (completed(0, {"id": "order-7", "total": -5}),)),
        ),
        _scenario(
            "process_order_in_flight",
            process_order,
            {"order": 42},
            (1, (completed(0, "reserved"),)),
        ),
        # Bug fix: an event raised in the batch that ends with continue_as_new (and one
        # held by a suspension) must be carried over, not dropped.
        _scenario(
            "continue_as_new_carries_late_events",
            eternal_counter,
            0,
            (1, (suspended(when=1), completed(0), raised("held", 1, when=1))),
            (2, (resumed(when=2), raised("late", 2, when=2))),
        ),
        # Bug fix: a duplicate completion that arrives while suspended is not recorded.
        _scenario(
            "duplicate_while_suspended",
            hello_sequence,
            None,
            (1, (suspended(when=1), completed(0, "Hello Tokyo!"), completed(0, "again"))),
            (2, (resumed(when=2),)),
            (3, (completed(1, "Hello Seattle!"),)),
            (4, (completed(2, "Hello London!"),)),
        ),
        # Bug fix: a second ExecutionStarted restarted the orchestrator from scratch and
        # scheduled task 0 again; it is now dropped.
        _scenario(
            "duplicate_start",
            hello_sequence,
            None,
            (1, (started(name="hello_sequence", instance_id="golden", when=1), completed(0, "Hi"))),
            (2, (completed(1, "Hello Seattle!"),)),
            (3, (completed(2, "Hello London!"),)),
        ),
    )
}


def record(scenario: Scenario) -> list[dict[str, Any]]:
    """Run the scenario's episodes and return the history as JSON-shaped dicts."""
    run = Run(scenario.orchestrator, instance_id="golden", name=scenario.orchestrator.__name__)
    run.start(scenario.input)
    for when, events in scenario.episodes:
        run.episode(*events, when=when)
    return [_portable(event.to_dict()) for event in run.history]


def _portable(data: dict[str, Any]) -> dict[str, Any]:
    """Keep only the last line of recorded tracebacks: file paths and line numbers vary."""
    failure = data.get("FailureDetails")
    if failure and failure.get("StackTrace"):
        failure["StackTrace"] = failure["StackTrace"].strip().splitlines()[-1]
    return data


def load(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(SCENARIOS[name].path.read_text(encoding="utf-8"))
    return data


def write_all() -> None:
    HISTORIES.mkdir(exist_ok=True)
    for scenario in SCENARIOS.values():
        text = json.dumps(record(scenario), indent=1) + "\n"
        scenario.path.write_text(text, encoding="utf-8")
        print(f"wrote {scenario.path}")


if __name__ == "__main__":
    write_all()
