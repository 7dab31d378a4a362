"""Orchestration versions: how they are ordered, and which instances a worker takes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from durably.backends.base import InstanceRecord

VersionMatch = Literal["none", "strict", "current_or_older"]
VersionFailure = Literal["reject", "fail"]
_PARTS = re.compile(r"\d+|[^\W\d_]+")


@functools.lru_cache(maxsize=1024)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceFilter:
    """The instances a worker takes. By the version that started them, with ``version``:
    those of that version (``strict``) or of it and older ones, and those without one;
    by orchestrator name, with ``names``. ``None`` takes every one."""

    version: str | None = None
    strict: bool = False
    names: frozenset[str] | None = None

    @classmethod
    def taken_by(
        cls, versions: InstanceFilter | None, names: frozenset[str] | None
    ) -> InstanceFilter | None:
        """The filter of the store for a worker that takes ``versions`` (None: any) and
        orchestrators of ``names`` (None: any); None when it takes every instance."""
        if versions is None and names is None:
            return None
        version = versions.version if versions is not None else None
        strict = versions.strict if versions is not None else False
        return cls(version=version, strict=strict, names=names)

    @property
    def version_key(self) -> str | None:
        return None if self.version is None else version_key(self.version)

    def admits(self, record: InstanceRecord) -> bool:
        if self.names is not None and record.name not in self.names:
            return False
        if self.version is None or record.version is None:
            return True
        key, mine = version_key(record.version), version_key(self.version)
        return key == mine if self.strict else key <= mine  # as the store compares
