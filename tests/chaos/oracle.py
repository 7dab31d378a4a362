"""The chaos oracle: after the run, every instance is checked against its spec.

For each instance (and each sub-orchestration it started): the expected status and output;
a history that replays cleanly with the orchestrator's code (``replay_history``); one
ExecutionStarted and at most one end; every task, timer and child scheduled once and
settled once (a result recorded twice is a duplicated step; one never recorded, a lost
one); the events and suspensions the driver sent, each recorded once. Then the store:
nothing left in it (activity requests, inbox messages, held leases, uncounted
deliveries) and no instance the workload did not start.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import durably
from durably.history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    HistoryEvent,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from durably.testing.replay import replay_history
from tests.chaos import app as chaos_app
from tests.chaos.stores import Target, instance_ids, leftovers
from tests.chaos.workload import Spec

# Events the driver sends, by kind: (what, how many of them the history must hold).
_SENT: dict[str, list[tuple[str, int]]] = {
    "approval": [("approve", 1)],
    "suspendable": [("go", 1), ("suspended", 1), ("resumed", 1)],
}
_MAY_FAIL_ONCE = {"retried"}  # the flaky activity's first attempt (if no crash ate it)


def check(client: durably.Client, specs: Iterable[Spec], resent: set[str]) -> list[str]:
    """Every problem found with the instances of ``specs``; ``resent`` are the instances
    the driver sent a request to again after a store error left its outcome unknown
    (their requests may be recorded twice)."""
    problems: list[str] = []
    for spec in specs:
        problems += _instance(client, spec.instance_id, spec.kind, spec.status, spec.output)
        history = client.get_history(spec.instance_id)
        problems += _sent(spec, history, spec.instance_id in resent)
        for child, (status, output) in spec.children.items():
            problems += _instance(client, child, "chain", status, output)
        created = {e.instance_id for e in history if isinstance(e, SubOrchestrationInstanceCreated)}
        for child, (status, output) in spec.maybe_children.items():
            if child in created:
                problems += _instance(client, child, "sleeper", status, output)
            elif client.get_status(child) is not None:
                problems.append(f"{child}: exists, but its parent never started it")
    return problems


def check_store(target: Target, specs: Iterable[Spec]) -> list[str]:
    """Work left behind in the store, and instances nobody started."""
    problems = [
        f"{len(rows)} {what} left, e.g. {rows[:3]}"
        for what, rows in leftovers(target).items()
        if rows
    ]
    expected: set[str] = set()
    for spec in specs:
        expected |= {spec.instance_id, *spec.children, *spec.maybe_children}
    extra = instance_ids(target) - expected
    if extra:
        problems.append(f"{len(extra)} instances nobody started, e.g. {sorted(extra)[:3]}")
    return problems


def _instance(
    client: durably.Client, instance_id: str, kind: str, status: str, output: Any
) -> list[str]:
    record = client.get_status(instance_id)
    if record is None:
        return [f"{instance_id}: lost (no such instance)"]
    problems = []
    if record.runtime_status != status or record.output != output:
        problems.append(
            f"{instance_id}: {record.runtime_status} with {record.output!r},"
            f" expected {status} with {output!r}"
        )
    history = client.get_history(instance_id)
    problems += [f"{instance_id}: {p}" for p in history_problems(history, kind)]
    report = replay_history(getattr(chaos_app, kind), history)
    if not report.matches_history:
        problems.append(f"{instance_id}: {report}")
    return problems


def history_problems(history: list[HistoryEvent], kind: str) -> list[str]:
    """What is wrong with the shape of one execution's history."""
    kinds = collections.Counter(type(e) for e in history)
    problems = []
    if kinds[ExecutionStarted] != 1:
        problems.append(f"{kinds[ExecutionStarted]} ExecutionStarted events")
    if kinds[ExecutionCompleted] > 1 or kinds[ExecutionTerminated] > 1:
        problems.append(
            f"{kinds[ExecutionCompleted]} ExecutionCompleted events,"
            f" {kinds[ExecutionTerminated]} ExecutionTerminated"
        )
    failures = kinds[TaskFailed]
    if failures > (1 if kind in _MAY_FAIL_ONCE else 0):
        problems.append(f"{failures} TaskFailed events")
    problems += _once_each(history, TaskScheduled, (TaskCompleted, TaskFailed), "task")
    problems += _once_each(history, TimerCreated, (TimerFired,), "timer", at_most=True)
    problems += _once_each(
        history,
        SubOrchestrationInstanceCreated,
        (SubOrchestrationInstanceCompleted, SubOrchestrationInstanceFailed),
        "sub-orchestration",
        at_most=kind == "doomed",  # a terminated parent never hears from its child
    )
    return problems


def _once_each(
    history: list[HistoryEvent],
    scheduled: type[HistoryEvent],
    settled: tuple[type[HistoryEvent], ...],
    what: str,
    *,
    at_most: bool = False,
) -> list[str]:
    ids = [e.event_id for e in history if isinstance(e, scheduled)]
    results = collections.Counter(
        getattr(e, "timer_id", None) if isinstance(e, TimerFired) else e.task_scheduled_id  # type: ignore[attr-defined]
        for e in history
        if isinstance(e, settled)
    )
    problems = []
    if len(ids) != len(set(ids)):
        problems.append(f"a {what} scheduled twice: {sorted(ids)}")
    for task_id in ids:
        count = results.pop(task_id, 0)
        if count > 1 or (count == 0 and not at_most):
            problems.append(f"{what} {task_id} settled {count} times")
    if results:
        problems.append(f"{what} results for nothing scheduled: {dict(results)}")
    return problems


def _sent(spec: Spec, history: list[HistoryEvent], resent: bool) -> list[str]:
    counts = collections.Counter(
        e.name if isinstance(e, EventRaised) else type(e).__name__.removeprefix("Execution").lower()
        for e in history
        if isinstance(e, EventRaised | ExecutionSuspended | ExecutionResumed)
    )
    problems = []
    for what, expected in _SENT.get(spec.kind, []):
        if counts[what] != expected and not (resent and counts[what] > expected):
            problems.append(f"{spec.instance_id}: {counts[what]} {what!r} recorded, sent once")
    return problems
