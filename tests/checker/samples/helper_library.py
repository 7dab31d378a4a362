"""Helpers imported by helpers.py, in another module of the user's code."""

from __future__ import annotations

import uuid
from typing import Any

import durably


def gather(context: durably.OrchestrationContext, key: str) -> Any:
    values = yield context.call_activity("fetch", key)
    return [values, str(uuid.uuid4())]  # expect: DUR002


def stamp(value: Any) -> dict[str, Any]:
    import os

    return {"value": value, "host": os.uname().nodename}  # expect: DUR003
