"""OpenTelemetry spans of orchestrations, activities and timers (DESIGN section 9).

A no-op unless ``opentelemetry-api`` is installed (``durably[otel]``) and a tracer
provider is set. durably never imports OpenTelemetry itself (45 ms at every start): a
process that set a provider has imported it, so until then each check is a dict lookup.

An orchestration's span covers its execution from start to completion, across episodes,
worker processes and hosts, so no process holds it open. Its identity is derived
instead: the span id from the execution id, the trace id from the caller's span (stored
with the instance as a W3C traceparent at ``start_new``) or, without a caller, from the
execution id too. Every step's span names that identity as its parent as it happens
(activities carry it in their work, sub-orchestrations in their start event), and the
orchestration span itself is written once, by the worker whose commit completes the
execution, with its start time taken from history. Writing it under the derived id
needs the SDK's tracer (the usual one), whose id generator durably's own tracer
overrides for that one span.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from durably.backends.base import ActivityWorkItem
from durably.history import (
    ExecutionStarted,
    FailureDetails,
    OrchestrationRuntimeStatus,
    TaskCompleted,
    TaskFailed,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanContext

_trace: Any = None  # opentelemetry.trace, once the process has imported it
_otel_context: Any = None  # opentelemetry.context, likewise


def _api() -> bool:
    """Whether the OpenTelemetry API is imported (binding it here the first time)."""
    global _trace, _otel_context
    if _trace is None:
        module = sys.modules.get("opentelemetry.trace")
        if module is None:
            return False
        from opentelemetry import context

        _trace, _otel_context = module, context
    return True


TRACER = "durably"
Status = OrchestrationRuntimeStatus


def active() -> bool:
    """Whether spans go anywhere: OpenTelemetry is imported and a provider is set."""
    if _trace is None and not _api():
        return False
    global _seen
    provider = _trace.get_tracer_provider()
    if provider is not _seen[0]:
        unset = (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)
        _seen = (provider, not isinstance(provider, unset), _follows_parent(provider))
    return _seen[1]


_seen: tuple[object, bool, bool] = (None, False, False)
"""The provider last looked at, whether it is set, and :func:`_follows_parent` of it."""


def _follows_parent(provider: object) -> bool:
    """Whether the provider's sampler never samples a span whose parent is not sampled:
    the SDK's own samplers that decide by the parent (``ParentBased``, the default,
    unless told otherwise for unsampled remote parents) or by the trace id alone
    (``TraceIdRatioBased``, ``ALWAYS_OFF``). Then durably makes no span at all under an
    unsampled orchestration, where the SDK would make a non-recording one at a good
    part of the cost of a recorded one. Any other sampler is asked for every span."""
    sampler = getattr(provider, "sampler", None)
    if type(sampler).__module__ != "opentelemetry.sdk.trace.sampling":
        return False
    description = str(sampler.get_description())  # type: ignore[union-attr]
    if description.startswith("ParentBased{"):
        return "remoteParentNotSampled:AlwaysOffSampler" in description
    return description == "AlwaysOffSampler" or description.startswith("TraceIdRatioBased{")


def _unsampled(traceparent: str) -> bool:
    """Whether no span is made under ``traceparent``: its sampled flag (bit 0 of the
    flags, the last hex digit) is clear and the sampler follows the parent."""
    return _seen[2] and traceparent[-1:] in "02468ace"


def caller_context() -> str | None:
    """The W3C traceparent of the current span (a ``start_new`` caller's), or None."""
    if _trace is None and not _api():
        return None
    span_context = _trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return _traceparent(span_context.trace_id, span_context.span_id, span_context.trace_flags)


@contextlib.contextmanager
def incoming(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the trace context of a request's headers (``traceparent``, by the configured
    propagators) current while a start is made, unless a span is current already (a
    server instrumentation's, itself a child of those headers)."""
    if not _api() or _trace.get_current_span().get_span_context().is_valid:
        yield
        return
    from opentelemetry import propagate

    token = _otel_context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        _otel_context.detach(token)


def orchestration_context(execution_id: str, parent: str | None) -> str:
    """The traceparent of the execution's orchestration span: its caller's trace (or
    one derived from the execution id) and a span id derived from the execution id."""
    key = (execution_id, parent)
    found = _contexts.get(key)
    if found is None:
        parsed = _parse(parent) if parent else None
        if parsed is not None:
            trace_id, flags = parsed[0], parsed[2]
        else:  # a root: sampled as the provider's sampler will sample its span
            trace_id = _derived(execution_id, 16)
            flags = 1 if _root_sampled(trace_id) else 0
        found = _traceparent(trace_id, _derived(execution_id, 8), flags)
        if len(_contexts) >= _KEPT:
            _contexts.clear()
        _contexts[key] = found
    return found


_KEPT = 4096
"""Derived contexts kept per process (each orchestration's work asks for its own often)."""
_contexts: dict[tuple[str, str | None], str] = {}


def started_context(started: ExecutionStarted | None, execution_id: str) -> str | None:
    """The orchestration span's traceparent for an execution's work (None when nothing
    is traced here)."""
    if not active():
        return None
    parent = started.parent_trace_context if started is not None else None
    return orchestration_context(execution_id, parent)


def activity_span(item: ActivityWorkItem) -> ActivitySpan:
    """An ``activity:{name}`` span, current while the activity runs (``with``), under
    its orchestration's span; tell it the outcome with ``set``."""
    return ActivitySpan(item)


class ActivitySpan:
    """The span of one activity attempt; a failure sets the error status and records
    the exception. (A class, not a generator: it runs once per activity.)"""

    __slots__ = ("_item", "_span", "_token")

    def __init__(self, item: ActivityWorkItem) -> None:
        self._item = item
        self._span: Any = None
        self._token: Any = None

    def __enter__(self) -> ActivitySpan:
        item = self._item
        if item.trace_context is None or not active():
            return self
        if _unsampled(item.trace_context):
            # the orchestration's unsampled context stays current: spans the activity
            # makes itself join the trace, unsampled as it is
            self._token = _otel_context.attach(_parent_of(item.trace_context))
        else:
            self._span = span = _tracer().start_span(
                f"activity:{item.name}",
                context=_parent_of(item.trace_context),
                attributes={
                    "durabletask.type": "activity",
                    "durabletask.task.name": item.name,
                    "durabletask.task.instance_id": item.instance_id,
                    "durabletask.task.task_id": item.task_id,
                },
            )
            self._token = _otel_context.attach(_trace.set_span_in_context(span))
        return self

    def set(self, result: TaskCompleted | TaskFailed) -> TaskCompleted | TaskFailed:
        """Tell the span how the attempt ended; returns ``result``."""
        span = self._span
        if span is not None:
            if isinstance(result, TaskFailed):
                _fail(span, result.failure_details)
            else:
                span.set_attribute("durabletask.task.status", "Completed")
        return result

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _otel_context.detach(self._token)
        if self._span is not None:
            self._span.end()


def timer_span(
    instance_id: str, trace_context: str, task_id: int, created: _dt.datetime, fired: _dt.datetime
) -> None:
    """A ``timer`` span from the timer's creation to the episode that saw it fire."""
    if _unsampled(trace_context):
        return
    span = _tracer().start_span(
        "timer",
        context=_parent_of(trace_context),
        attributes={
            **_attributes("timer", "timer", instance_id, task_id=task_id),
            "durabletask.task.status": "Completed",
        },
        start_time=_nanos(created),
    )
    span.end(end_time=_nanos(fired))


def entity_span(
    name: str,
    operation: str,
    instance_id: str,
    trace_context: str,
    at: _dt.datetime,
    failure: FailureDetails | None,
) -> None:
    """An ``entity:{name}`` span of one operation, under the span that sent it."""
    if _unsampled(trace_context):
        return
    attributes = _attributes("entity", operation, instance_id)
    span = _tracer().start_span(
        f"entity:{name}",
        context=_parent_of(trace_context),
        attributes=attributes,
        start_time=_nanos(at),
    )
    if failure is not None:
        _fail(span, failure)
    else:
        span.set_attribute("durabletask.task.status", "Completed")
    span.end(end_time=_nanos(at))


def orchestration_span(
    name: str,
    instance_id: str,
    execution_id: str,
    started: ExecutionStarted | None,
    start: _dt.datetime,
    end: _dt.datetime,
    status: Status,
    failure: FailureDetails | None,
) -> None:
    """The ``orchestration:{name}`` span of a finished execution, under its derived id."""
    parent = started.parent_trace_context if started is not None else None
    context = orchestration_context(execution_id, parent)
    if _unsampled(context):
        return
    trace_id, span_id, _ = _parse(context)  # type: ignore[misc]
    attributes = _attributes("orchestration", name, instance_id)
    attributes["durabletask.task.status"] = status.value
    tracer = _fixed_id_tracer()
    _FixedIds.given.ids = (trace_id, span_id)
    try:
        span = tracer.start_span(
            f"orchestration:{name}",
            context=_parent_of(parent) if parent else _otel_context.Context(),
            attributes=attributes,
            start_time=_nanos(start),
        )
    finally:
        _FixedIds.given.ids = None
    if failure is not None:
        _fail(span, failure)
    span.end(end_time=_nanos(end))


# -- helpers -------------------------------------------------------------------------
def _attributes(
    kind: str, name: str, instance_id: str, *, task_id: int | None = None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "durabletask.type": kind,
        "durabletask.task.name": name,
        "durabletask.task.instance_id": instance_id,
    }
    if task_id is not None:
        attributes["durabletask.task.task_id"] = task_id
    return attributes


def _fail(span: Span, failure: FailureDetails) -> None:
    span.set_attribute("durabletask.task.status", "Failed")
    span.set_status(_trace.Status(_trace.StatusCode.ERROR, failure.message))
    event = {"exception.type": failure.error_type, "exception.message": failure.message}
    if failure.details:
        event["exception.stacktrace"] = failure.details
    span.add_event("exception", event)


def _parent_of(traceparent: str) -> Any:
    """A context whose current span is the (remote) span ``traceparent`` names (kept for
    the next span of the same orchestration: contexts are immutable)."""
    found = _parents.get(traceparent)
    if found is not None:
        return found
    parsed = _parse(traceparent)
    if parsed is None:
        return _otel_context.Context()
    trace_id, span_id, flags = parsed
    remote: SpanContext = _trace.SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=_trace.TraceFlags(flags)
    )
    found = _trace.set_span_in_context(_trace.NonRecordingSpan(remote), _otel_context.Context())
    if len(_parents) >= _KEPT:
        _parents.clear()
    _parents[traceparent] = found
    return found


_parents: dict[str, Any] = {}


def _traceparent(trace_id: int, span_id: int, flags: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & 0xFF:02x}"


def _parse(traceparent: str) -> tuple[int, int, int] | None:
    parts = traceparent.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    return (trace_id, span_id, flags) if trace_id and span_id else None


def _root_sampled(trace_id: int) -> bool:
    """Whether the provider's sampler (an SDK provider's; others: yes) samples a root
    span of ``trace_id`` (ratio samplers decide by the trace id alone, so the
    orchestration span, written later, gets the same answer)."""
    sampler = getattr(_trace.get_tracer_provider(), "sampler", None) if _api() else None
    if sampler is None:
        return True
    try:
        decision = sampler.should_sample(None, trace_id, "orchestration").decision
    except Exception:  # a sampler that wants more than a trace id: trace
        return True
    return bool(decision.is_sampled())


def _derived(execution_id: str, size: int) -> int:
    """A nonzero id of ``size`` bytes derived from the execution id."""
    digest = hashlib.blake2b(execution_id.encode(), digest_size=size, person=b"durably").digest()
    return int.from_bytes(digest, "big") or 1


def _nanos(moment: _dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000


class _FixedIds:
    """An SDK id generator that hands out the ids in ``given.ids`` (a pair, on this
    thread) while they are set, and otherwise the wrapped generator's."""

    given = threading.local()

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def generate_trace_id(self) -> int:
        ids = getattr(self.given, "ids", None)
        return ids[0] if ids else int(self._wrapped.generate_trace_id())

    def generate_span_id(self) -> int:
        ids = getattr(self.given, "ids", None)
        return ids[1] if ids else int(self._wrapped.generate_span_id())

    def is_trace_id_random(self) -> bool:
        ids = getattr(self.given, "ids", None)
        return False if ids else bool(self._wrapped.is_trace_id_random())


_fixed: tuple[object, Any] | None = None  # (provider, its tracer with fixed ids)
_plain: tuple[object, Any] | None = None  # (provider, its tracer)


def _tracer() -> Any:
    """durably's tracer of the current provider (made once per provider)."""
    global _plain
    provider = _trace.get_tracer_provider()
    if _plain is None or _plain[0] is not provider:
        _plain = (provider, provider.get_tracer(TRACER))
    return _plain[1]


def _fixed_id_tracer() -> Any:
    """durably's own tracer of the current provider, its id generator wrapped (an SDK
    tracer; another implementation's tracer is used as it is, with its own ids)."""
    global _fixed
    provider = _trace.get_tracer_provider()
    if _fixed is None or _fixed[0] is not provider:
        tracer = provider.get_tracer(TRACER)
        if hasattr(tracer, "id_generator"):
            tracer.id_generator = _FixedIds(tracer.id_generator)
        _fixed = (provider, tracer)
    return _fixed[1]
