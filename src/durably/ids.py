"""Instance ids and names: the rules user-supplied ids and names must follow."""

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
    _text("instance id", instance_id)
    return instance_id


def validate_name(name: object, what: str) -> str:
    """Return an orchestrator's, activity's or event's name if a store can keep it;
    ``ValueError`` naming the rule otherwise (a non-empty text without control
    characters)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in name):
        raise ValueError(f"{what} must not contain control characters: {name!r}")
    _text(what, name)
    return name


def _text(what: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{what} must be valid Unicode text (no lone surrogates): {value!r}"
        ) from None
