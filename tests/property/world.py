"""A simulated world that runs a program episode by episode on the pure engine.

It answers each episode's actions: the activity runs at once (its result waits to be
delivered), timers fire when virtual time reaches them, a sub-orchestration is simulated
to its end in turn. It delivers what is ready in random batches and order, raises the
program's events at random moments, delivers old completions twice, and suspends and
resumes the instance. Every episode goes through ``Run``, which checks that the cached
executor and a fresh full replay of the history agree.
"""

from __future__ import annotations

import json
import random
from typing import Any

from durably.actions import AnyAction, CreateTimer, ScheduleTask, StartSubOrchestration
from durably.engine.replay import EpisodeResult
from durably.history import (
    HistoryEvent,
    OrchestrationRuntimeStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
)
from tests.engine.helpers import (
    Run,
    at,
    completed,
    failed,
    fired,
    raised,
    resumed,
    started,
    suspended,
)
from tests.property.programs import act, program_orchestrator

Status = OrchestrationRuntimeStatus
MAX_EPISODES = 2000


class World:
    """What one instance (and, in turn, its sub-orchestrations) receives."""

    def __init__(self, rng: random.Random, events: dict[str, int]) -> None:
        self.rng = rng
        self.unraised = sorted(events.items())
        self.ready: list[HistoryEvent] = []
        self.timers: list[HistoryEvent] = []
        self.delivered: list[HistoryEvent] = []
        self.suspended = False
        self.now = 0.0

    def answer(self, actions: tuple[AnyAction, ...]) -> None:
        for action in actions:
            match action:
                case ScheduleTask():
                    try:
                        result = act(json.loads(action.input or "null"))
                    except ValueError as error:
                        self.ready.append(failed(action.task_id, "ValueError", str(error)))
                    else:
                        self.ready.append(completed(action.task_id, result))
                case CreateTimer():
                    self.timers.append(fired(action.task_id, action.fire_at))
                case StartSubOrchestration():
                    self.ready.append(self._sub_orchestration(action))
                case _:
                    pass  # a completion needs no answer

    def _sub_orchestration(self, action: StartSubOrchestration) -> HistoryEvent:
        child = World(self.rng, {})
        child.now = self.now
        end = simulate(
            child,
            json.loads(action.input or "null"),
            instance_id=action.instance_id,
            parent_instance_id=action.instance_id.rpartition(":")[0],
        )[1].completion
        assert end is not None
        if end.status is Status.Completed:
            return SubOrchestrationInstanceCompleted(
                timestamp=at(self.now), task_scheduled_id=action.task_id, result=end.result
            )
        assert end.failure_details is not None
        return SubOrchestrationInstanceFailed(
            timestamp=at(self.now),
            task_scheduled_id=action.task_id,
            failure_details=end.failure_details,
        )

    def next_batch(self) -> list[HistoryEvent]:
        rng = self.rng
        self.now += rng.choice((0.0, 0.001, 0.003, 0.01))
        if self.unraised and rng.random() < 0.3:
            self._raise_one()
        if not self._due():
            # Nothing to deliver: resume, raise an event, or let time run to the next timer.
            if self.suspended:
                self.suspended = False
                return [resumed(when=self.now)]
            if self.unraised:
                self._raise_one()
            elif self.timers:
                earliest = min(t.timestamp for t in self.timers)
                self.now = max(self.now, (earliest - at(0)).total_seconds())
                self._due()
        batch = []
        if self.ready and rng.random() < 0.9:
            for _ in range(rng.randint(1, len(self.ready))):
                batch.append(self.ready.pop(rng.randrange(len(self.ready))))
        if self.delivered and rng.random() < 0.15:  # at least once: a result comes again
            batch.insert(rng.randrange(len(batch) + 1), rng.choice(self.delivered))
        self.delivered += [e for e in batch if e.event_type != "EventRaised"]
        return self._suspension(batch)

    def _due(self) -> bool:
        """Move the timers due now to the ready events; whether anything is ready."""
        for timer in [t for t in self.timers if t.timestamp <= at(self.now)]:
            self.timers.remove(timer)
            self.ready.append(timer)
        return bool(self.ready)

    def _raise_one(self) -> None:
        name, data = self.unraised.pop(self.rng.randrange(len(self.unraised)))
        if self.rng.random() < 0.3:  # event names are matched ignoring case
            name = name.upper()
        self.ready.append(raised(name, data, when=self.now))

    def _suspension(self, batch: list[HistoryEvent]) -> list[HistoryEvent]:
        if self.suspended and self.rng.random() < 0.5:
            self.suspended = False
            return [*batch, resumed(when=self.now)]
        if not self.suspended and self.rng.random() < 0.1:
            self.suspended = True
            return [suspended(when=self.now), *batch]
        return batch


def simulate(
    world: World,
    input_: Any,
    *,
    instance_id: str = "root",
    parent_instance_id: str | None = None,
) -> tuple[Run, EpisodeResult]:
    """Run one instance to its end; its last execution's ``Run`` and last episode. A
    continued-as-new execution starts a fresh ``Run``."""
    run = Run(program_orchestrator, instance_id=instance_id, name="program")
    result = run.start(input_, when=world.now, parent_instance_id=parent_instance_id)
    for _ in range(MAX_EPISODES):
        end = result.completion
        if end is not None and end.status is Status.ContinuedAsNew:
            carried: list[HistoryEvent] = [
                raised(n, json.loads(i or "null")) for n, i in end.carryover_events
            ]
            # Undelivered events go on to the next execution; the old one's work does not.
            world.ready = [e for e in world.ready if e.event_type == "EventRaised"] + carried
            world.timers, world.delivered, world.suspended = [], [], False
            assert run.replayed().is_done
            run = Run(program_orchestrator, instance_id=instance_id, name="program")
            start = started(
                json.loads(end.result or "null"),
                name="program",
                instance_id=instance_id,
                when=world.now,
                parent_instance_id=parent_instance_id,
            )
            result = run.episode(start, when=world.now)
            continue
        if end is not None:
            assert run.replayed().is_done
            return run, result
        world.answer(result.actions)
        result = run.episode(*world.next_batch(), when=world.now)
    raise AssertionError(f"{instance_id} did not finish in {MAX_EPISODES} episodes")
