"""Instance ids: the rules user-supplied ids must follow."""

from __future__ import annotations

import uuid

_FORBIDDEN = "/\\#?"


def new_instance_id() -> str:
    """A random id (32 hex digits)."""
    return uuid.uuid4().hex


def validate_instance_id(instance_id: object) -> str:
    """Return the id if valid; raise ``ValueError`` naming the rule it breaks."""
    if not isinstance(instance_id, str):
        raise ValueError(f"instance id must be a string, got {type(instance_id).__name__}")
    if not 1 <= len(instance_id) <= 256:
        raise ValueError(f"instance id must be 1 to 256 characters long, got {len(instance_id)}")
    if instance_id.startswith("@"):
        raise ValueError(f"instance id must not start with '@': {instance_id!r}")
    for char in instance_id:
        if char in _FORBIDDEN:
            raise ValueError(
                f"instance id must not contain '/', '\\', '#' or '?': {instance_id!r} has {char!r}"
            )
        if ord(char) < 32 or 127 <= ord(char) < 160:
            raise ValueError(f"instance id must not contain control characters: {instance_id!r}")
    return instance_id
