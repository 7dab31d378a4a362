"""Module state that global_writes.py writes from another module."""

from __future__ import annotations

TOTAL = 0
SEEN: set[str] = set()
