"""EntityStateResponse: what a client reads of an entity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EntityStateResponse:
    """Whether the entity exists (it has state), and its state (None if it does not)."""

    entity_exists: bool
    entity_state: Any = None
