"""Durable entities: small durable objects addressed by ``EntityId(name, key)``, whose
operations run one at a time, in the order each sender sent them (docs/entities.md)."""

from durably.entities.context import EntityContext
from durably.entities.ids import EntityId
from durably.entities.state import EntityStateResponse

__all__ = ["EntityContext", "EntityId", "EntityStateResponse"]
