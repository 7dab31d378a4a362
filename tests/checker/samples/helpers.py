"""Helpers followed from an orchestrator: same module, imported module, each checked once."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import durably
from tests.checker.samples import helper_library
from tests.checker.samples.helper_library import stamp

app = durably.App()


def pause(context: durably.OrchestrationContext, seconds: float) -> Any:
    time.sleep(seconds)  # expect: DUR007
    yield context.create_timer(context.current_utc_datetime)


def total(values: list[int]) -> int:
    return sum(values) + int(time.time())  # expect: DUR001


def nested(context: durably.OrchestrationContext) -> Any:
    yield from pause(context, 1)  # called twice, checked once
    return total([1])


@app.activity
def fetch(url: str) -> str:
    return open(url).read()  # activities are never checked


@app.orchestrator
def parent(context: durably.OrchestrationContext) -> Any:
    yield from pause(context, 1)
    yield from nested(context)
    value = yield from helper_library.gather(context, "a")
    stamped = stamp(value)
    encoded = json.dumps([stamped, email.utils.formatdate(0)])  # the stdlib is not followed
    result = yield context.call_activity(fetch, encoded)
    child = yield context.call_sub_orchestrator(child_orchestrator, result)
    return [total([1, 2]), child]


@app.orchestrator
def child_orchestrator(context: durably.OrchestrationContext) -> Any:
    fetch("inline")  # calling an activity function directly is not followed
    return (yield context.call_activity(fetch, context.get_input()))
