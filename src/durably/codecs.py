"""Codecs: ``App(codec=...)`` transforms every stored payload (inputs, outputs, event
data, custom status) on the way in and back on the way out: compression, encryption.

A codec is any object with a ``name`` and ``encode(bytes) -> bytes`` /
``decode(bytes) -> bytes``. An encoded payload is still JSON, so that a reader without
the codec (the CLI or the dashboard of another app, an old export) shows it as such
instead of failing: ``{"$codec": "zlib", "data": "<base64>"}``. A payload written before
the codec was set is read as it is; one written with another codec is refused with a
``ValueError`` naming both.

:class:`ZlibCodec` ships; an encryption codec is a few lines on ``cryptography``'s
Fernet (docs/typed-payloads.md).
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Protocol, runtime_checkable

MARKER = '{"$codec":'
"""How an encoded payload's JSON text starts."""


@runtime_checkable
class Codec(Protocol):
    """Transforms payload bytes for storage, and back."""

    name: str

    def encode(self, data: bytes) -> bytes:
        """The stored form of ``data``."""

    def decode(self, data: bytes) -> bytes:
        """``data`` as it was before :meth:`encode`."""


class ZlibCodec:
    """Compresses payloads with zlib (worth it for payloads of a few KB and up)."""

    name = "zlib"

    def __init__(self, level: int = 6) -> None:
        self.level = level

    def encode(self, data: bytes) -> bytes:
        return zlib.compress(data, self.level)

    def decode(self, data: bytes) -> bytes:
        return zlib.decompress(data)


def encode(text: str | None, codec: Codec | None) -> str | None:
    """``text`` (a payload's JSON) as stored with ``codec`` (as it is without one)."""
    if text is None or codec is None:
        return text
    data = base64.b64encode(codec.encode(text.encode())).decode("ascii")
    return json.dumps({"$codec": codec.name, "data": data}, separators=(",", ":"))


def decode(text: str | None, codec: Codec | None) -> str | None:
    """A stored payload's JSON text, decoded by ``codec`` when it was encoded. Without
    the codec an encoded payload stays as it is: JSON that says what encoded it."""
    if text is None or not text.startswith(MARKER) or codec is None:
        return text
    stored = json.loads(text)
    if stored.get("$codec") != codec.name:
        raise ValueError(
            f"a payload encoded with codec {stored.get('$codec')!r} cannot be read with"
            f" this app's codec {codec.name!r}"
        )
    return codec.decode(base64.b64decode(stored["data"])).decode()
