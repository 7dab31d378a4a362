"""The limits every app has, their defaults, and the checks of values given for them."""

from __future__ import annotations

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""2 MiB: the default limit on one serialised payload."""
DEFAULT_MAX_HISTORY_EVENTS = 100_000
"""The default limit on the events of one execution's history."""


def check_payload_limit(limit: object) -> int:
    """``limit`` if it is a usable ``max_payload_bytes``; ``ValueError`` naming it if not."""
    return _whole("max_payload_bytes", limit, 1)


def check_history_limit(limit: object) -> int:
    """``limit`` if it is a usable ``max_history_events``; ``ValueError`` naming it if not."""
    return _whole("max_history_events", limit, 10)


def _whole(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return value
