"""DUR001: reading the wall clock."""

from __future__ import annotations

import datetime as dt
import time
from datetime import date, datetime
from time import monotonic as tick
from typing import Any

import durably

flagged = durably.App()
clean = durably.App()


@flagged.orchestrator
def reads_the_clock(context: durably.OrchestrationContext) -> Any:
    started = dt.datetime.now(dt.UTC)  # expect: DUR001
    stamp = datetime.utcnow()  # expect: DUR001
    today = date.today()  # expect: DUR001
    seconds = time.time()  # expect: DUR001
    elapsed = tick() - time.perf_counter()  # expect: DUR001 DUR001
    local = time.localtime()  # expect: DUR001
    clock = datetime.now  # expect: DUR001
    yield context.call_activity("record", [str(started), str(stamp), str(today)])
    return [seconds, elapsed, local, clock]


@clean.orchestrator
def uses_the_context(context: durably.OrchestrationContext) -> Any:
    now = context.current_utc_datetime
    deadline = now + dt.timedelta(days=1)
    epoch = datetime(1970, 1, 1, tzinfo=dt.UTC)
    parsed = datetime.fromisoformat("2024-05-01T00:00:00+00:00")
    converted = time.localtime(0)
    text = "time.time()"
    yield context.create_timer(deadline)
    return [str(epoch), str(parsed), converted.tm_year, text]


@clean.activity
def record(values: list[str]) -> float:
    return time.time()  # activities may read the clock
