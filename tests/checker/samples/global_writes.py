"""DUR008: writing module globals."""

from __future__ import annotations

import collections
import logging
import sys
from typing import Any

import durably
from tests.checker.samples import shared_state
from tests.checker.samples.shared_state import SEEN

flagged = durably.App()
clean = durably.App()
CACHE: dict[str, Any] = {}
ITEMS: list[str] = []
RECENT: collections.deque[str] = collections.deque(maxlen=10)
COUNT = 0
LIMITS = {"orders": 10}
log = logging.getLogger(__name__)


@flagged.orchestrator
def writes_globals(context: durably.OrchestrationContext) -> Any:
    global COUNT
    key = context.get_input()
    CACHE[key] = yield context.call_activity("load", key)  # expect: DUR008
    ITEMS.append(key)  # expect: DUR008
    RECENT.appendleft(key)  # expect: DUR008
    COUNT += 1  # expect: DUR008
    del CACHE[key]  # expect: DUR008
    LIMITS["orders"] += 1  # expect: DUR008
    shared_state.TOTAL = 5  # expect: DUR008
    SEEN.add(key)  # expect: DUR008
    sys.path.append("/tmp")  # expect: DUR008
    return COUNT


@clean.orchestrator
def keeps_state_local(context: durably.OrchestrationContext) -> Any:
    cache: dict[str, Any] = {}
    items = [*ITEMS]  # reading a global is not a write
    key = context.get_input()
    cache[key] = yield context.call_activity(load, key)
    items.append(key)
    context.set_custom_status({"seen": len(items)})
    log.info("loaded %s", key)  # a logger is not a container
    limit = LIMITS.get("orders", 0)
    CACHE = {"shadow": True}  # a local that shadows the global
    CACHE["key"] = key
    return [cache, items, limit, CACHE, shared_state.TOTAL]


@clean.activity
def load(key: str) -> str:
    CACHE[key] = key  # activities may keep caches
    return key
