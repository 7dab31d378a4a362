"""The app the tracing tests run, in the test process and in worker processes.

Imported by ``durably worker tests.tracing.app:app`` with ``DURABLY_TEST_SPANS`` set,
it installs an OpenTelemetry SDK provider whose spans are appended to that file, one
JSON object per line, as each span ends (as a user's app module configures tracing)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Sequence
from typing import Any

import durably

app = durably.App()


@app.activity
def step(name: str) -> str:
    if name == "bad":
        raise ValueError("a bad step")
    return f"did {name}"


@app.orchestrator
def child(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_activity(step, "in the child"))


@app.orchestrator
def journey(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(step, "one")
    yield context.create_timer(context.current_utc_datetime + _dt.timedelta(seconds=0.1))
    nested = yield context.call_sub_orchestrator(child)
    with contextlib.suppress(durably.TaskFailedError):
        yield context.call_activity(step, "bad")
    return [first, nested]


@app.orchestrator
def two_halves(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(step, "first half")
    yield context.wait_for_external_event("go")
    second = yield context.call_activity(step, "second half")
    return [first, second]


@app.activity
def inner_work(number: int) -> int:
    from opentelemetry import trace

    with trace.get_tracer("the app").start_as_current_span("inner work"):
        return number * 2


@app.orchestrator
def pair(context: durably.OrchestrationContext) -> Any:
    number = context.get_input()
    first = yield context.call_activity(inner_work, number)
    second = yield context.call_activity(inner_work, first)
    nested = yield context.call_sub_orchestrator(child)
    return [first, second, nested]


def span_record(span: Any) -> dict[str, Any]:
    """What the tests look at of a finished SDK span."""
    return {
        "name": span.name,
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [event.name for event in span.events],
        "pid": os.getpid(),
    }


def _install_file_exporter(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class FileExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            with open(path, "a", encoding="utf-8") as file:
                for span in spans:
                    file.write(json.dumps(span_record(span)) + "\n")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
    trace.set_tracer_provider(provider)


if os.environ.get("DURABLY_TEST_SPANS"):
    _install_file_exporter(os.environ["DURABLY_TEST_SPANS"])
