"""Running a program on a real Worker, and what a run leaves to compare with another.

The instance is created and its events raised before the worker starts, so its first
episode receives them all: whether an event had arrived when a step waited for it is
then decided by the program, not by timing (``wait_for_external_event`` with a timeout
creates its timer only if the event has not arrived). Histories are compared as
multisets of events without timestamps: how results are batched into episodes, and so
the order of the events, is timing's business.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import durably
from durably.backends.base import Backend
from durably.history import HistoryEvent
from durably.testing.replay import replay_history
from tests.property.programs import Outcome, Program, act, program_orchestrator, start_input

app = durably.App()
app.activity(name="act")(act)
app.orchestrator(name="program")(program_orchestrator)

ROOT = "root"
_EPISODE_MARKS = ("OrchestratorStarted", "OrchestratorCompleted")
_TIMES = ("Timestamp", "FireAt")
_SCHEDULED = ("TaskScheduled", "SubOrchestrationInstanceCreated")
_SETTLED = (
    "TaskCompleted",
    "TaskFailed",
    "SubOrchestrationInstanceCompleted",
    "SubOrchestrationInstanceFailed",
)


@dataclass(frozen=True, slots=True)
class Observed:
    """What a run left: the top instance's status, output (a failure's first line) and
    custom status, and every instance's history as sorted events without times."""

    status: str
    output: Any
    custom_status: Any
    histories: dict[str, list[str]]

    def outcome(self) -> tuple[str, Any, Any]:
        return self.status, self.output, self.custom_status


def expected_outcome(expected: Outcome) -> tuple[str, Any, Any]:
    return expected.status, expected.output, expected.custom_status


def run_on_worker(
    program: Program,
    events: dict[str, int],
    backend: Backend,
    *,
    cache_size: int,
    direct_episodes: bool = True,
    lease_seconds: float = 60.0,
    workers: int = 1,
) -> Observed:
    """Run ``program`` as instance ``root`` with ``events`` raised, on ``workers``
    workers sharing ``backend``; wait for its end (a run takes well under a second:
    10 s means it hangs)."""
    client = durably.Client(backend, app=app)
    client.start_new("program", instance_id=ROOT, client_input=start_input(program))
    for name, data in sorted(events.items()):
        client.raise_event(ROOT, name, data)
    with contextlib.ExitStack() as running:
        for _ in range(workers):
            worker = durably.Worker(
                app,
                backend,
                cache_size=cache_size,
                direct_episodes=direct_episodes,
                lease_seconds=lease_seconds,
                poll_interval=0.02,
                activity_concurrency=8,
                # Faults and a lease run out on a busy machine must not add up to poison
                # work, a different (and correct) outcome.
                max_dequeue_count=50,
            )
            # A short stop: ThreadPool's start/shutdown race (test_pool_stop_race.py)
            # would otherwise cost a whole default timeout of 30 s now and then.
            running.callback(worker.stop, 2.0)
            worker.start()
        status = client.wait_for_completion(ROOT, timeout=10)
    output = status.output
    if status.runtime_status == "Failed":
        output = output.partition("\n")[0]
    histories = {}
    for instance_id in _instances(backend):
        history = backend.get_history(instance_id)
        check_each_step_settled_once(instance_id, history)
        report = replay_history(program_orchestrator, history)
        assert report.is_replay_safe, report
        histories[instance_id] = normalized(history)
    return Observed(str(status.runtime_status), output, status.custom_status, histories)


def _instances(backend: Backend) -> list[str]:
    """``root`` and its sub-orchestrations, found through the histories."""
    found, todo = [], [ROOT]
    while todo:
        instance_id = todo.pop()
        found.append(instance_id)
        for event in backend.get_history(instance_id):
            if event.event_type == "SubOrchestrationInstanceCreated":
                todo.append(event.to_dict()["InstanceId"])
    return sorted(found)


def normalized(history: list[HistoryEvent]) -> list[str]:
    """The events without episode marks, times and tracebacks, as sorted JSON.

    A traceback may show whether the generator was resumed by ``send`` or ``throw``,
    which depends on which of a fan-out's results came last.
    """
    events = []
    for event in history:
        data = event.to_dict()
        if data["EventType"] in _EPISODE_MARKS:
            continue
        data = {k: v for k, v in data.items() if k not in _TIMES}
        if data.get("FailureDetails"):
            data["FailureDetails"] = {**data["FailureDetails"], "StackTrace": None}
        events.append(json.dumps(data))
    return sorted(events)


def check_each_step_settled_once(instance_id: str, history: list[HistoryEvent]) -> None:
    """Each task and sub-orchestration scheduled once and settled once (every program
    waits for all it starts), each timer fired at most once: nothing lost or duplicated."""
    scheduled: Counter[int] = Counter()
    settled: Counter[int] = Counter()
    timers: Counter[int] = Counter()
    fired: Counter[int] = Counter()
    for event in history:
        data = event.to_dict()
        kind = data["EventType"]
        if kind in _SCHEDULED:
            scheduled[data["EventId"]] += 1
        elif kind in _SETTLED:
            settled[data["TaskScheduledId"]] += 1
        elif kind == "TimerCreated":
            timers[data["EventId"]] += 1
        elif kind == "TimerFired":
            fired[data["TimerId"]] += 1
    assert all(n == 1 for n in scheduled.values()), (instance_id, scheduled)
    assert settled == scheduled, (instance_id, "settled", settled, "scheduled", scheduled)
    assert all(n == 1 for n in timers.values()), (instance_id, timers)
    assert all(timers[t] == 1 and n == 1 for t, n in fired.items()), (instance_id, fired)
