"""OpenTelemetry spans (DESIGN section 9): one trace from the caller of start_new through
every activity, timer and sub-orchestration, whichever process runs each episode; no
span twice; failures marked; nothing at all without a tracer provider."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

import durably
from durably.backends.base import Backend

from .app import app, span_record

ROOT = Path(__file__).resolve().parents[2]
Spans = list[dict[str, Any]]


@contextlib.contextmanager
def _provider(sampler: Sampler | None = None) -> Iterator[InMemorySpanExporter]:
    """An SDK provider, made the global one while in use, keeping spans in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = trace._TRACER_PROVIDER  # the API sets its global once per process
    trace._TRACER_PROVIDER = provider
    try:
        yield exporter
    finally:
        trace._TRACER_PROVIDER = previous
        provider.shutdown()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with _provider() as exporter:
        yield exporter


def finished(exporter: InMemorySpanExporter) -> Spans:
    return [span_record(span) for span in exporter.get_finished_spans()]


def named(spans: Spans, name: str) -> list[dict[str, Any]]:
    return [span for span in spans if span["name"] == name]


def test_one_trace_from_the_caller_through_every_step(
    backend: Backend, exporter: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("the caller")
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        with tracer.start_as_current_span("POST /journeys"):
            instance_id = client.start_new("journey")
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.output == ["did one", "did in the child"]

    spans = finished(exporter)
    (request,) = named(spans, "POST /journeys")
    (journey,) = named(spans, "orchestration:journey")
    (child,) = named(spans, "orchestration:child")
    (timer,) = named(spans, "timer")
    steps = named(spans, "activity:step")
    assert {span["trace_id"] for span in spans} == {request["trace_id"]}
    assert journey["parent_id"] == request["span_id"]
    assert child["parent_id"] == journey["span_id"]
    assert timer["parent_id"] == journey["span_id"]
    by_instance = {span["attributes"]["durabletask.task.instance_id"]: span for span in steps}
    assert len(steps) == 3 and len(by_instance) == 2
    child_step = by_instance[child["attributes"]["durabletask.task.instance_id"]]
    assert child_step["parent_id"] == child["span_id"]
    assert [s["parent_id"] for s in steps if s is not child_step] == [journey["span_id"]] * 2
    assert journey["attributes"] == {
        "durabletask.type": "orchestration",
        "durabletask.task.name": "journey",
        "durabletask.task.instance_id": instance_id,
        "durabletask.task.status": "Completed",
    }
    assert timer["attributes"]["durabletask.type"] == "timer"
    assert timer["attributes"]["durabletask.task.status"] == "Completed"
    assert {s["attributes"]["durabletask.task.task_id"] for s in steps if s is not child_step} == {
        0,
        3,
    }


def test_a_failed_activity_span_has_the_error_and_the_exception(
    backend: Backend, exporter: InMemorySpanExporter
) -> None:
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("journey"), timeout=30)
    (bad,) = [
        span
        for span in named(finished(exporter), "activity:step")
        if span["attributes"]["durabletask.task.status"] == "Failed"
    ]
    assert bad["status"] == "ERROR" and bad["events"] == ["exception"]
    failed = [s for s in exporter.get_finished_spans() if s.status.status_code.name == "ERROR"]
    (exception,) = failed[0].events
    assert exception.attributes is not None
    assert exception.attributes["exception.type"] == "ValueError"
    assert exception.attributes["exception.message"] == "a bad step"


def test_a_failed_orchestration_span_has_the_error(
    backend: Backend, exporter: InMemorySpanExporter
) -> None:
    broken = durably.App()

    @broken.orchestrator
    def fails(context: durably.OrchestrationContext) -> Any:
        raise RuntimeError("broken on purpose")
        yield

    with durably.Worker(broken, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("fails"), timeout=30)
    (span,) = named(finished(exporter), "orchestration:fails")
    assert span["status"] == "ERROR" and span["events"] == ["exception"]
    assert span["attributes"]["durabletask.task.status"] == "Failed"


def test_replays_emit_no_span_twice(backend: Backend, exporter: InMemorySpanExporter) -> None:
    # No executor cache: every episode replays the whole history first.
    with durably.Worker(app, store=backend, poll_interval=0.02, cache_size=0) as worker:
        client = worker.client()
        instance_id = client.start_new("two_halves")
        deadline = time.monotonic() + 30
        while not named(finished(exporter), "activity:step") and time.monotonic() < deadline:
            time.sleep(0.02)
        client.raise_event(instance_id, "go")
        client.wait_for_completion(instance_id, timeout=30)
    names = sorted(span["name"] for span in finished(exporter))
    assert names == ["activity:step", "activity:step", "orchestration:two_halves"]


def test_a_sampled_trace_is_whole_and_an_unsampled_one_leaves_no_span(backend: Backend) -> None:
    # One trace in two sampled: each orchestration's trace (its steps, its child and
    # the spans its activities make themselves) is exported whole or not at all.
    with (
        _provider(ParentBased(TraceIdRatioBased(0.5))) as exporter,
        durably.Worker(app, store=backend, poll_interval=0.02) as worker,
    ):
        client = worker.client()
        ids = [client.start_new("pair", client_input=i) for i in range(24)]
        for instance_id in ids:
            assert client.wait_for_completion(instance_id, timeout=30).output is not None
    spans = finished(exporter)
    traces: dict[str, list[str]] = {}
    for span in spans:
        traces.setdefault(span["trace_id"], []).append(span["name"])
    whole = sorted(
        ["orchestration:pair", "orchestration:child", "activity:step"]
        + ["activity:inner_work", "inner work"] * 2
    )
    assert all(sorted(names) == whole for names in traces.values()), traces
    assert 0 < len(traces) < len(ids)
    by_id = {span["span_id"]: span for span in spans}
    for inner in named(spans, "inner work"):
        assert by_id[inner["parent_id"]]["name"] == "activity:inner_work"


def test_a_caller_span_not_sampled_leaves_no_span(backend: Backend) -> None:
    # The default sampler follows the caller: its unsampled span keeps the
    # orchestration and everything in it out of the trace.
    caller = trace.SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xF067AA0BA902B7, False)
    with (
        _provider(ParentBased(ALWAYS_ON)) as exporter,
        durably.Worker(app, store=backend, poll_interval=0.02) as worker,
    ):
        client = worker.client()
        with trace.use_span(trace.NonRecordingSpan(caller)):
            instance_id = client.start_new("pair", client_input=1)
        assert client.wait_for_completion(instance_id, timeout=30).output is not None
        unsampled = [s.name for s in exporter.get_finished_spans()]
        instance_id = client.start_new("pair", client_input=2)  # no caller: sampled
        assert client.wait_for_completion(instance_id, timeout=30).output is not None
    assert unsampled == []
    assert len(named(finished(exporter), "activity:inner_work")) == 2


def test_without_a_tracer_provider_nothing_is_traced_or_stored(backend: Backend) -> None:
    assert not durably.tracing.active()
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        instance_id = client.start_new("journey")
        client.wait_for_completion(instance_id, timeout=30)
        history = [event.to_dict() for event in client.get_history(instance_id)]
    assert all("ParentTraceContext" not in event for event in history)


def test_the_http_start_route_continues_the_request_trace(
    exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    import httpx

    from tests.web.server import serving

    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with (
        serving(app, f"sqlite:///{tmp_path / 'web.db'}") as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        response = http.post(
            "/api/orchestrators/two_halves/web-1",
            headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
        )
        assert response.status_code == 202
        http.post("/runtime/webhooks/durabletask/instances/web-1/raiseEvent/go", json=None)
        deadline = time.monotonic() + 30
        while not named(finished(exporter), "orchestration:two_halves"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    spans = finished(exporter)
    (orchestration,) = named(spans, "orchestration:two_halves")
    # The orchestration's ancestors lead to the request's caller (through the server's
    # own spans, which recent FastAPI versions make themselves).
    by_id = {span["span_id"]: span for span in spans}
    ancestors, parent = [], orchestration["parent_id"]
    while parent in by_id:
        ancestors.append(by_id[parent]["name"])
        parent = by_id[parent]["parent_id"]
    assert parent == caller_span, ancestors
    assert orchestration["trace_id"] == caller_trace
    assert {s["trace_id"] for s in named(spans, "activity:step")} == {caller_trace}


# -- two worker processes ----------------------------------------------------------
def _worker(store: str, spans: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "durably.cli", "worker", "tests.tracing.app:app", "--store", store],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DURABLY_TEST_SPANS": str(spans)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(worker: subprocess.Popen[str]) -> None:
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err


def _read(path: Path) -> Spans:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_one_trace_when_two_worker_processes_run_the_episodes(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    first_spans, second_spans = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    with durably.Client(store, app=app) as client:
        with trace.get_tracer("the caller").start_as_current_span("request") as request:
            instance_id = client.start_new("two_halves")
        first = _worker(store, first_spans)
        try:
            deadline = time.monotonic() + 60
            while not _read(first_spans) and time.monotonic() < deadline:
                time.sleep(0.05)  # the first half's activity ended, in the first process
            status = client.get_status(instance_id)
            assert status is not None and status.runtime_status.value == "Running"
        finally:
            _stop(first)
        client.raise_event(instance_id, "go")
        second = _worker(store, second_spans)
        try:
            assert client.wait_for_completion(instance_id, timeout=60).output == [
                "did first half",
                "did second half",
            ]
        finally:
            _stop(second)

    in_first, in_second = _read(first_spans), _read(second_spans)
    assert [span["name"] for span in in_first] == ["activity:step"]
    (orchestration,) = named(in_second, "orchestration:two_halves")
    (second_step,) = named(in_second, "activity:step")
    caller = request.get_span_context()
    assert orchestration["parent_id"] == f"{caller.span_id:016x}"
    assert in_first[0]["parent_id"] == second_step["parent_id"] == orchestration["span_id"]
    assert {s["trace_id"] for s in in_first + in_second} == {f"{caller.trace_id:032x}"}
    assert in_first[0]["pid"] != orchestration["pid"]
