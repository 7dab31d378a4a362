"""EntityId: the address of a durable entity, and the instance id that stores it."""

from __future__ import annotations

from dataclasses import dataclass

from durably.ids import validate_instance_id, validate_name

PREFIX = "@"


@dataclass(frozen=True, slots=True)
class EntityId:
    """An entity: its kind (``name``, lower-cased as Durable Functions does) and its
    ``key``. Stored as the instance ``@name@key``."""

    name: str
    key: str

    def __post_init__(self) -> None:
        name = entity_name(self.name)
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"an entity's key must be a non-empty string, got {self.key!r}")
        validate_instance_id(self.key)  # the same characters as an instance id
        object.__setattr__(self, "name", name)

    @property
    def instance_id(self) -> str:
        """The instance id the entity is stored under."""
        return f"{PREFIX}{self.name}{PREFIX}{self.key}"

    @classmethod
    def of(cls, instance_id: str) -> EntityId:
        """The entity stored as ``instance_id`` (``ValueError`` if it names none)."""
        name, sep, key = instance_id[1:].partition(PREFIX)
        if not instance_id.startswith(PREFIX) or not sep:
            raise ValueError(f"{instance_id!r} is not an entity's instance id (@name@key)")
        return cls(name, key)

    def __str__(self) -> str:
        return self.instance_id


def entity_name(name: object) -> str:
    """An entity's name as stored: lower-cased; ``ValueError`` for one a store cannot
    keep or that holds '@'."""
    checked = validate_name(name, "an entity's name")
    if PREFIX in checked:
        raise ValueError(f"an entity's name must not contain '@': {checked!r}")
    return checked.lower()


def is_entity(instance_id: str) -> bool:
    """Whether ``instance_id`` stores an entity (orchestration ids never start with @)."""
    return instance_id.startswith(PREFIX)


def as_entity_id(value: EntityId | tuple[str, str]) -> EntityId:
    """``value`` as an EntityId (a (name, key) pair is accepted); ``TypeError`` otherwise."""
    if isinstance(value, EntityId):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return EntityId(*value)
    raise TypeError(f"an entity id must be an EntityId(name, key), got {value!r}")
