"""OrchestrationState: the mutable state of one execution, shared by executor and context.

The executor creates it when the execution starts and hands it to the context. The
executor sets the episode's time and whether history is being replayed, settles pending
tasks from history and takes the actions asked for; the context numbers new tasks and
registers them here. Everything an episode's outcome depends on besides the history and
the generator is in this one object, read and written through its public fields.
"""

from __future__ import annotations

import datetime as _dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from durably import payload
from durably.actions import AnyAction
from durably.codecs import Codec
from durably.engine.recording import patch_marker
from durably.engine.tasks import AtomicTask, ExternalEventTask, TimerTask
from durably.history import GenericEvent


@dataclass(slots=True, kw_only=True)
class OrchestrationState:
    """What the orchestrator's calls have done so far in one execution."""

    now: _dt.datetime
    """The current episode's time: the timestamp of its ``OrchestratorStarted``."""
    max_payload_bytes: int = payload.DEFAULT_MAX_PAYLOAD_BYTES
    """The app's limit on each payload the orchestrator produces."""
    codec: Codec | None = None
    """The app's codec for stored payloads (:mod:`durably.codecs`)."""
    is_replaying: bool = True
    """True while the event being applied was recorded by an earlier episode."""
    custom_status: Any = None
    continues_as_new: bool = False
    """True once the orchestrator called ``continue_as_new``."""
    next_input: str | None = None
    """The next execution's input (JSON text) when ``continues_as_new``."""
    pending: dict[int, AtomicTask] = field(default_factory=dict)
    """Tasks waiting for a completion event, by task id."""
    entity_requests: dict[str, int] = field(default_factory=dict)
    """Entity calls and lock requests waiting for their answer: request id (a critical
    section's id for a lock) -> task id."""
    sections: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Critical sections asked for and not released: id -> the entities they lock."""
    held: set[str] = field(default_factory=set)
    """The sections among them whose locks are all held."""
    unmatched: dict[int, AnyAction] = field(default_factory=dict)
    """Actions asked for and not yet matched to a history event, by task id."""
    waiters: dict[str, deque[ExternalEventTask]] = field(default_factory=dict)
    """Tasks waiting for an external event, oldest first, by lower-cased event name."""
    arrived: list[tuple[str, str | None]] = field(default_factory=list)
    """External events (name, JSON text) that arrived with no one waiting, oldest first."""
    next_task_id: int = 0
    uuid_counter: int = 0
    episode: int = 0
    """How many episodes (``OrchestratorStarted`` events) the execution has seen."""
    patches: dict[str, int] = field(default_factory=dict)
    """The patches taken, recorded or new: name -> the episode that took it."""
    new_patches: list[str] = field(default_factory=list)
    """Patches first taken in this episode, for its history."""
    """How many ``new_uuid()`` calls the execution made."""

    def take_patch_markers(self, now: _dt.datetime) -> list[GenericEvent]:
        """The history notes of the patches first taken in this episode (then none)."""
        markers = [patch_marker(name, now) for name in self.new_patches]
        self.new_patches.clear()
        return markers

    def take_task_id(self) -> int:
        """The next task id: tasks are numbered in call order, so replay gives the same ids."""
        task_id = self.next_task_id
        self.next_task_id += 1
        return task_id

    def register(self, task: AtomicTask) -> None:
        """Record a new task: it waits for its completion and its action for history."""
        self.pending[task.task_id] = task
        self.unmatched[task.task_id] = task.action

    def lock_granted(self, section_id: str) -> Any:
        """The critical section whose locks are now all held."""
        from durably.engine.locks import CriticalSection

        if section_id in self.sections:
            self.held.add(section_id)
        return CriticalSection(self, section_id, self.sections.get(section_id, ()))

    def cancel_timer(self, timer: TimerTask) -> None:
        """Stop waiting for ``timer`` (its action stays, as history recorded it)."""
        self.pending.pop(timer.task_id, None)

    def wait_for_event(self, name: str) -> ExternalEventTask:
        """A task for the next event ``name``: completed if one already arrived, else waiting."""
        event = ExternalEventTask(name)
        key = name.lower()
        for index, (arrived_name, text) in enumerate(self.arrived):
            if arrived_name.lower() == key:
                del self.arrived[index]
                event._complete(payload.loads(text, self.codec))
                return event
        self.waiters.setdefault(key, deque()).append(event)
        return event

    def drop_waiter(self, event: ExternalEventTask) -> None:
        """Stop ``event`` waiting (its timeout fired): a later event goes to the next waiter."""
        waiters = self.waiters.get(event.name.lower())
        if waiters and event in waiters:
            waiters.remove(event)

    def deliver_event(self, name: str, text: str | None) -> None:
        """Complete the oldest waiter for ``name``, or keep the event until one asks."""
        waiters = self.waiters.get(name.lower())
        if waiters:
            waiters.popleft()._complete(payload.loads(text, self.codec))
        else:
            self.arrived.append((name, text))
