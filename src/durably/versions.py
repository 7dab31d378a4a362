"""Orchestration versions: how they are ordered, and which instances a worker takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

VersionMatch = Literal["none", "strict", "current_or_older"]
VersionFailure = Literal["reject", "fail"]
_PARTS = re.compile(r"\d+|[^\W\d_]+")


def version_key(version: str) -> str:
    """A text that sorts as the version does: part by part (numbers as numbers, "2.10"
    after "2.9"; words as words, after numbers), separators and case ignored, so "1.00"
    is "1.0" and "2.0rc1" comes after "2.0". Made of ``0-9a-f`` only, so that any
    database collation orders it as Python does."""
    parts = []
    for part in _PARTS.findall(version.lower()):
        if part.isdigit():
            parts.append("1" + f"{int(part):020d}"[-20:])
        else:
            parts.append("0" + part.encode().hex())
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class VersionFilter:
    """The instances a worker of ``version`` takes: those started without a version, and
    those of its own version (``strict``) or of one not newer than its own."""

    version: str
    strict: bool

    @property
    def key(self) -> str:
        return version_key(self.version)

    def admits(self, version: str | None) -> bool:
        if version is None:
            return True
        key = version_key(version)  # the store compares keys too: "1.00" is "1.0"
        return key == self.key if self.strict else key <= self.key
