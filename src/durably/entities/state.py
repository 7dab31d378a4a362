"""What a client reads of entities: one entity's state, and pages of them."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from durably.entities.ids import EntityId


@dataclass(frozen=True, slots=True)
class EntityStateResponse:
    """Whether the entity exists (it has state), and its state (None if it does not)."""

    entity_exists: bool
    entity_state: Any = None


@dataclass(frozen=True, slots=True)
class EntityMetadata:
    """An entity as listed: its id, when an operation last ran on it, its state, and
    what waits on it (the orchestration holding its lock, the operations kept until
    the lock is released)."""

    entity_id: EntityId
    last_operation_time: _dt.datetime
    entity_exists: bool
    entity_state: Any = None
    locked_by: str | None = None
    waiting_operations: int = 0


@dataclass(frozen=True, slots=True)
class EntityPage:
    """A page of entities, and the token of the next one (None on the last page)."""

    entities: list[EntityMetadata]
    continuation_token: str | None = None
