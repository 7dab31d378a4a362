"""Encodings every backend shares: timestamps as integer microseconds, paging tokens.

Timestamps are stored as integer microseconds since the Unix epoch (UTC) so that they
compare and index correctly in every database and round-trip exactly; naive datetimes
are taken as UTC. Continuation tokens are opaque to callers: a URL-safe base64 of the
last row's sort key ``(created_time, instance_id)``, so paging is keyset-based and
stable while instances are created or deleted.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MICROSECOND = _dt.timedelta(microseconds=1)


def to_micros(value: _dt.datetime) -> int:
    """Microseconds since the epoch; naive values are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> _dt.datetime:
    """The timezone-aware UTC datetime for :func:`to_micros` output."""
    return _EPOCH + _dt.timedelta(microseconds=value)


def utc(value: _dt.datetime) -> _dt.datetime:
    """``value`` as an aware UTC datetime (what a SQL backend would return)."""
    return from_micros(to_micros(value))


def encode_token(created_time: int, instance_id: str) -> str:
    """The continuation token that resumes listing after this sort key."""
    raw = json.dumps([created_time, instance_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str) -> tuple[int, str]:
    """The sort key inside a continuation token; ``ValueError`` if it is not one of ours."""
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise ValueError(f"invalid continuation token {token!r}") from None
    if not isinstance(created, int) or not isinstance(instance_id, str):
        raise ValueError(f"invalid continuation token {token!r}")
    return created, instance_id
