"""Actions: what an episode of an orchestrator asks for. Imperative names.

The replay engine turns the generator's requests into these; the worker turns them into
history events and store messages inside one commit.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TypeAlias

from durably.history import FailureDetails, OrchestrationRuntimeStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    task_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleTask(Action):
    """Run the activity ``name`` with ``input`` (JSON text)."""

    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTimer(Action):
    fire_at: _dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StartSubOrchestration(Action):
    name: str
    instance_id: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendEvent(Action):
    """Raise the event ``name`` on another instance."""

    instance_id: str
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEntity(Action):
    """Run ``operation`` on the entity stored as ``instance_id``; a call waits for the
    answer to ``request_id``, a ``signal`` gets none."""

    instance_id: str
    operation: str
    input: str | None = None
    request_id: str
    signal: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LockEntities(Action):
    """Take the locks of ``lock_set`` (entity instance ids, sorted) for a critical section."""

    section_id: str
    lock_set: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockEntity(Action):
    """Release the critical section's lock on the entity stored as ``instance_id``."""

    section_id: str
    instance_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteOrchestration(Action):
    """The execution ended: Completed, Failed, Terminated or ContinuedAsNew.

    For ContinuedAsNew, ``result`` is the new input and ``carryover_events`` holds the
    raised events (name, JSON text) that no one consumed, to be delivered again.
    """

    status: OrchestrationRuntimeStatus
    result: str | None = None
    failure_details: FailureDetails | None = None
    carryover_events: tuple[tuple[str, str | None], ...] = ()


AnyAction: TypeAlias = (
    ScheduleTask
    | CreateTimer
    | StartSubOrchestration
    | SendEvent
    | CallEntity
    | LockEntities
    | UnlockEntity
    | CompleteOrchestration
)
"""Every concrete action: ``match`` on it with class patterns ending in ``assert_never``."""
