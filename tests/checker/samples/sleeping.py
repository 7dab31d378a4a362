"""DUR007: sleeping in the orchestrator."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from time import sleep as nap
from typing import Any

import durably

flagged = durably.App()
clean = durably.App()


@flagged.orchestrator
def sleeps(context: durably.OrchestrationContext) -> Any:
    time.sleep(1)  # expect: DUR007
    nap(0.5)  # expect: DUR007
    pause = asyncio.sleep(1)  # expect: DUR007
    pause.close()
    return (yield context.call_activity("use", None))


@clean.orchestrator
def waits_on_a_timer(context: durably.OrchestrationContext) -> Any:
    yield context.create_timer(dt.timedelta(seconds=30))
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(hours=1))
    sleep = context.get_input()  # a local named `sleep`
    return (yield context.call_activity(throttle, sleep))


@flagged.orchestrator
async def sleeps_async(context: durably.OrchestrationContext) -> Any:
    await asyncio.sleep(1)  # expect: DUR007
    return await context.call_activity("use", time.time())  # expect: DUR001


@clean.orchestrator
async def waits_on_a_timer_async(context: durably.OrchestrationContext) -> Any:
    await context.create_timer(dt.timedelta(seconds=30))
    return await context.call_activity(throttle, 1)


@clean.activity
def throttle(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
