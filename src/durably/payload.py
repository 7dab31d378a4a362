"""JSON conversion of user payloads (inputs, outputs, event data, entity state).

Payloads are stored as JSON text. Common Python types are converted on the way in
(datetimes and dates become ISO-8601 strings, dataclasses dicts, pydantic models their
JSON dump, enums their value, UUIDs and Decimals strings, sets sorted lists and tuples
lists, objects with a ``to_json()`` method what it returns); anything else is refused
with :class:`TypeError` naming its type and where it is in the value, at the call that
passed it, never later in a worker. Values come back as plain JSON types, and
:mod:`durably.typed` turns them back into the types the receiving side declares. Never
pickle.

A payload is at most ``max_payload_bytes`` serialised (:data:`DEFAULT_MAX_PAYLOAD_BYTES`
unless the app or the client says otherwise); a larger one raises
:class:`~durably.errors.PayloadTooLargeError`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import json
import uuid
from typing import Any

from durably import codecs
from durably.codecs import Codec
from durably.errors import PayloadTooLargeError
from durably.limits import DEFAULT_MAX_PAYLOAD_BYTES

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "dumps", "loads"]


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        try:  # sorted: a set's order changes between processes, a replay's must not
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, tuple):
        return list(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):  # a pydantic v2 model
        return dump(mode="json")
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _where(value: Any, path: str = "$", depth: int = 0) -> str | None:
    """Where in ``value`` the first part that cannot be encoded is (None: nowhere)."""
    if depth > 100:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                return f"{path} (a key of type {type(key).__name__})"
            found = _where(item, f"{path}.{key}", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _where(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    try:
        converted = _default(value)
    except TypeError:
        return path
    return _where(converted, path, depth + 1)


def dumps(
    value: Any, *, what: str = "value", limit: int | None = None, codec: Codec | None = None
) -> str | None:
    """Encode a payload as JSON text (then by ``codec``, if any); ``None`` stays ``None``.

    Raises ``TypeError`` naming ``what`` and the offending type, and
    ``PayloadTooLargeError`` if the stored text is over ``limit`` bytes.
    """
    if value is None:
        return None
    try:
        text = json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        where = _where(value)
        at = f" (at {where})" if where and where != "$" else ""
        raise TypeError(f"{what} is not JSON-serialisable{at}: {exc}") from None
    if codec is not None:
        text = codecs.encode(text, codec) or text
    # The text is ASCII (json.dumps escapes the rest): its length is its size in bytes.
    if limit is not None and len(text) > limit:
        raise PayloadTooLargeError(what, len(text), limit)
    return text


def loads(text: str | None, codec: Codec | None = None) -> Any:
    """Decode JSON text written by :func:`dumps` (by ``codec`` first, if it encoded it)."""
    if text is None:
        return None
    if codec is not None:
        text = codecs.decode(text, codec)
    return json.loads(text)  # type: ignore[arg-type]
