"""Property: a cached executor and a full replay of the history always agree.

A small simulated world answers each episode's actions in a seeded pseudo-random way:
completions arrive out of order and in batches of varying size, some activities fail,
timers fire late, events are raised at random, completions are delivered twice, and the
instance is suspended and resumed. ``Run`` checks at every episode that the cached
executor's result (new events, actions, status, output, custom status) equals that of a
fresh executor replaying the whole accumulated history.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
from collections.abc import Generator
from typing import Any

import pytest

from durably.actions import CreateTimer, ScheduleTask, StartSubOrchestration
from durably.engine.context import OrchestrationContext
from durably.engine.retry import RetryOptions
from durably.engine.tasks import Task
from durably.errors import TaskFailedError
from durably.history import HistoryEvent, OrchestrationRuntimeStatus

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
)

Status = OrchestrationRuntimeStatus
RETRY = RetryOptions(first_retry_interval_in_milliseconds=3000, max_number_of_attempts=3)


class Dice:
    """Seeded choices for the simulated world."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def below(self, n: int) -> int:
        return self._random.randrange(n)

    def chance(self, percent: int) -> bool:
        return self.below(100) < percent


def chaining(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    value = context.get_input()
    for step in range(3):
        value = yield context.call_activity(f"step{step}", value)
    return value


def fan_out(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    results = yield context.task_all([context.call_activity("work", n) for n in range(4)])
    context.set_custom_status({"done": len(results)})
    total = yield context.call_activity("sum", results)
    return total


def race(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    work = context.call_activity("slow")
    timer = context.create_timer(_dt.timedelta(seconds=4))
    winner: Task = yield context.task_any([work, timer])
    if winner is work:
        timer.cancel()
    return [winner is work, context.new_uuid()]


def retries(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    try:
        first = yield context.call_activity_with_retry("flaky", RETRY, 1)
    except TaskFailedError as error:
        first = f"gave up: {error.message}"
    second = yield context.call_sub_orchestrator_with_retry("flaky_child", RETRY)
    return [first, second]


def human(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    context.logger.info("asking")
    try:
        answer = yield context.wait_for_external_event("approval", timeout=6)
    except TimeoutError:
        answer = "escalated"
        yield context.call_activity("escalate")
    votes = yield context.task_all(
        [context.wait_for_external_event("vote"), context.wait_for_external_event("vote")]
    )
    return [answer, votes, context.current_utc_datetime.isoformat()]


def compensation(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    done = []
    for name in ("flaky_a", "flaky_b"):
        try:
            done.append((yield context.call_activity(name)))
        except TaskFailedError:
            yield context.call_activity("undo", done)
            return "compensated"
    return done


def eternal(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    round_ = context.get_input()
    yield context.create_timer(_dt.timedelta(seconds=2))
    ping = yield context.wait_for_external_event("ping")
    if round_ < 2:
        context.continue_as_new(round_ + 1)
        return None
    return ping


ORCHESTRATORS: dict[str, Orchestrator] = {
    "chaining": chaining,
    "fan_out": fan_out,
    "race": race,
    "retries": retries,
    "human": human,
    "compensation": compensation,
    "eternal": eternal,
}


class World:
    """Answers actions and decides what each episode receives."""

    def __init__(self, seed: int) -> None:
        self.rng = Dice(seed)
        self.ready: list[HistoryEvent] = []
        self.timers: list[HistoryEvent] = []
        self.delivered: list[HistoryEvent] = []
        self.suspended = False
        self.now = 0.0

    def answer(self, actions: tuple[Any, ...]) -> None:
        for action in actions:
            match action:
                case ScheduleTask(name=name) if name.startswith("flaky") and self.rng.chance(40):
                    self.ready.append(failed(action.task_id, "IOError", f"{name} broke"))
                case ScheduleTask():
                    value = [action.name, json.loads(action.input or "null")]
                    self.ready.append(completed(action.task_id, value))
                case StartSubOrchestration() if self.rng.chance(40):
                    self.ready.append(sub_failed(action.task_id))
                case StartSubOrchestration():
                    self.ready.append(sub_completed(action.task_id, action.instance_id))
                case CreateTimer():
                    self.timers.append(fired(action.task_id, action.fire_at))

    def next_batch(self) -> list[HistoryEvent]:
        self.now += 1 + self.rng.below(4)
        if not self.ready and self.timers and not self.rng.chance(30):
            earliest = min(t.timestamp for t in self.timers)
            self.now = max(self.now, (earliest - at(0)).total_seconds())
        for timer in [t for t in self.timers if t.timestamp <= at(self.now)]:
            self.timers.remove(timer)
            self.ready.append(timer)
        if self.rng.chance(35):
            name = ("approval", "vote", "ping")[self.rng.below(3)]
            self.ready.append(raised(name, self.rng.below(100), when=self.now))
        batch = []
        for _ in range(self.rng.below(len(self.ready) + 1)):
            batch.append(self.ready.pop(self.rng.below(len(self.ready))))
        if self.delivered and self.rng.chance(20):
            batch.insert(self.rng.below(len(batch) + 1), self.delivered[-1])  # a duplicate
        self.delivered += batch
        return self._suspension(batch)

    def _suspension(self, batch: list[HistoryEvent]) -> list[HistoryEvent]:
        if self.suspended and self.rng.chance(60):
            self.suspended = False
            return [*batch, resumed(when=self.now)]
        if not self.suspended and self.rng.chance(15):
            self.suspended = True
            return [suspended(when=self.now), *batch]
        return batch


def simulate(orchestrator: Orchestrator, seed: int) -> Run:
    """Run one instance to its end; a continued-as-new execution starts a fresh Run."""
    world = World(seed)
    run = Run(orchestrator)
    result = run.start(0)
    for _ in range(400):
        completion = result.completion
        if completion is not None and completion.status is Status.ContinuedAsNew:
            carried = [raised(n, json.loads(i or "null")) for n, i in completion.carryover_events]
            world.ready = [e for e in world.ready if e.event_type == "EventRaised"]
            world.timers, world.suspended = [], False
            run = Run(orchestrator)
            result = run.episode(started(json.loads(completion.result or "null")), when=world.now)
            world.ready += carried
        elif result.runtime_status.is_terminal:
            return run
        world.answer(result.actions)
        result = run.episode(*world.next_batch(), when=world.now)
    raise AssertionError("the simulated instance never finished")


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("name", sorted(ORCHESTRATORS))
def test_cached_executor_equals_full_replay_at_every_episode(name: str, seed: int) -> None:
    run = simulate(ORCHESTRATORS[name], seed)
    assert run.replayed().is_done


@pytest.mark.parametrize("name", sorted(ORCHESTRATORS))
def test_a_simulated_run_is_itself_deterministic(name: str) -> None:
    assert simulate(ORCHESTRATORS[name], 7).history == simulate(ORCHESTRATORS[name], 7).history
