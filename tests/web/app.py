"""The app the HTTP tests serve (also a target for `durably serve tests.web.app:app`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import durably

app = durably.App()
limited = durably.App(max_payload_bytes=1000)
"""The same ``quick`` orchestration with a 1,000-byte payload limit."""
FLAKY = {"fail": True}  # the flaky activity fails while this says so


@app.activity
@limited.activity
def greet(name: str) -> str:
    return f"Hello {name}!"


@app.activity
def flaky(x: int) -> int:
    if FLAKY["fail"]:
        raise RuntimeError("flaky failed")
    return x * 2


@app.orchestrator
def hello(context: durably.OrchestrationContext) -> Any:
    greeting = yield context.call_activity(greet, context.get_input())
    context.set_custom_status({"greeted": greeting})
    approval = yield context.wait_for_external_event("approve")
    return {"greeting": greeting, "approval": approval}


@app.orchestrator
@limited.orchestrator
def quick(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(greet, context.get_input()))


@app.orchestrator
def fragile(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(flaky, context.get_input()))


@app.orchestrator
def parent(context: durably.OrchestrationContext) -> Any:
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(milliseconds=50))
    child = yield context.call_sub_orchestrator(quick, context.get_input())
    return {"child": child}


@app.orchestrator
def echo(context: durably.OrchestrationContext) -> Any:
    """Shows its input as custom status and output (the escaping tests' markup)."""
    context.set_custom_status(context.get_input())
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(milliseconds=10))
    return context.get_input()
