"""Names that reach a banned call indirectly: aliases, star imports, closures, nesting."""

from __future__ import annotations

import datetime
import os
import os.path
from os import path
from random import *  # noqa: F403
from typing import Any

from httpx._api import get as fetch_url

import durably

flagged = durably.App()
clean = durably.App()
now = datetime.datetime.now
environment = os.environ


def _with_a_closure() -> Any:
    import time as clock

    def orchestrator(context: durably.OrchestrationContext) -> Any:
        yield context.call_activity("use", clock.time())  # expect: DUR001

    return orchestrator


flagged.orchestrator(name="closure")(_with_a_closure())


@flagged.orchestrator
def reaches_through_aliases(context: durably.OrchestrationContext) -> Any:
    import secrets as s

    started = now()  # expect: DUR001
    pick = choice([1, 2])  # expect: DUR002  # noqa: F405
    region = environment["REGION"]  # expect: DUR003
    found = path.exists("x") or os.path.isfile("y")  # expect: DUR004 DUR004
    page = fetch_url("https://example.com")  # expect: DUR005
    token = s.token_hex()  # expect: DUR002

    def nested() -> float:
        return datetime.datetime.now().timestamp()  # expect: DUR001

    stamps = [datetime.date.today() for _ in range(2)]  # expect: DUR001
    yield context.call_activity("use", [str(started), pick, region, found, page.text, token])
    return [nested(), stamps]


@clean.orchestrator
def uses_the_same_modules_purely(context: durably.OrchestrationContext) -> Any:
    name = path.join("a", "b")
    later = datetime.datetime.fromisoformat("2024-01-01") + datetime.timedelta(days=1)
    values = [datetime.timedelta(seconds=n) for n in range(3)]
    return (yield context.call_activity("use", [name, str(later), len(values)]))
