"""History events: one frozen dataclass per event type, named as in the Durable Task Framework.

Payload fields (``input``, ``result``) hold JSON text exactly as it was recorded, so a
history replays byte for byte. ``event_id`` is the task id for events that schedule or
refer to a task, ``-1`` otherwise. ``to_dict()`` gives the Durable Functions JSON shape
(``EventType``, ``EventId``, ``Timestamp``, ``Name``, ``Input``, ``Result``, ``FireAt``...).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias, get_args, get_type_hints

from durably.tracebacks import from_user_code


class OrchestrationRuntimeStatus(enum.StrEnum):
    """The runtime status of an orchestration instance (Durable Functions names)."""

    Pending = "Pending"
    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Canceled = "Canceled"
    Terminated = "Terminated"
    Suspended = "Suspended"

    @property
    def is_terminal(self) -> bool:
        """True once the instance will not run again by itself."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        OrchestrationRuntimeStatus.Completed,
        OrchestrationRuntimeStatus.Failed,
        OrchestrationRuntimeStatus.Terminated,
        OrchestrationRuntimeStatus.Canceled,
    }
)
"""Statuses of an instance that will not run again by itself (it may be purged)."""
ACTIVE_STATUSES = frozenset(OrchestrationRuntimeStatus) - TERMINAL_STATUSES
"""Statuses that keep an instance's id taken (ContinuedAsNew included)."""
WORKING_STATUSES = frozenset(
    {OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Running}
)
"""Statuses of an instance whose work is for a worker to do (not held by a suspension)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureDetails:
    """What went wrong: the original error type, its message and the traceback text."""

    error_type: str
    message: str
    details: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> FailureDetails:
        """The failure of ``exc``; its stack trace starts and ends in the user's code
        (durably's own frames around it are left out, and an error durably raised
        itself has none)."""
        error = traceback.TracebackException.from_exception(exc)
        text = "".join(error.format()) if from_user_code(error) else None
        return cls(error_type=type(exc).__name__, message=str(exc), details=text)

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ErrorType": self.error_type,
            "ErrorMessage": self.message,
            "StackTrace": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailureDetails:
        return cls(
            error_type=data["ErrorType"],
            message=data["ErrorMessage"],
            details=data.get("StackTrace"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """Base of every history event."""

    event_type: ClassVar[str] = "HistoryEvent"
    event_id: int = -1
    timestamp: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """The Durable Functions JSON shape of this event."""
        out: dict[str, Any] = {"EventType": self.event_type}
        for attr, key, encode, _ in _plan(type(self)):
            value = getattr(self, attr)
            if value is None and attr in _OMITTED:
                continue
            out[key] = value if encode is None or value is None else encode(value)
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON (what the stores keep), by a per-class writer."""
        writer = _WRITERS.get(type(self))
        if writer is None:
            writer = _WRITERS[type(self)] = _make_writer(type(self))
        return writer(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEvent:
        """Rebuild an event from :meth:`to_dict` output."""
        try:
            kind = EVENT_TYPES[data["EventType"]]
        except KeyError:
            raise ValueError(f"unknown history event type {data.get('EventType')!r}") from None
        kwargs = {}
        for attr, key, _, decode in _plan(kind):
            if key in data:
                value = data[key]
                kwargs[attr] = value if decode is None or value is None else decode(value)
        return kind(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> HistoryEvent:
        return cls.from_dict(_loads(text))


_OMITTED = frozenset({"parent_trace_context", "sender_instance_id"})
"""Fields the JSON leaves out while they are None: added later, so that the events of
those who do not use them stay as they were."""
_compact = json.JSONEncoder(separators=(",", ":"))
_loads = json.loads
_Codec = Callable[[Any], Any] | None


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _format_time(value: _dt.datetime) -> str:
    # The events of one episode share its timestamp object: format it once.
    global _last_time
    last = _last_time
    if last[0] is value:
        return last[1]
    text = value.isoformat().replace("+00:00", "Z")
    _last_time = (value, text)
    return text


_last_time: tuple[_dt.datetime | None, str] = (None, "")


_Plan = tuple[tuple[str, str, _Codec, _Codec], ...]
_PLANS: dict[type, _Plan] = {}


def _plan(kind: type) -> _Plan:
    plan = _PLANS.get(kind)
    if plan is None:
        plan = _PLANS[kind] = _make_plan(kind)
    return plan


def _make_plan(kind: type) -> _Plan:
    # Per event class, computed once: attribute, JSON key, encoder and decoder.
    hints = get_type_hints(kind)
    plan = []
    for field in dataclasses.fields(kind):
        text = str(hints[field.name])
        encode: _Codec = None
        decode: _Codec = None
        if "datetime" in text:
            encode, decode = _format_time, parse_time
        elif "FailureDetails" in text:
            encode, decode = FailureDetails.to_dict, FailureDetails.from_dict
        elif "OrchestrationRuntimeStatus" in text:
            encode, decode = _status_value, OrchestrationRuntimeStatus
        plan.append((field.name, _pascal(field.name), encode, decode))
    return tuple(plan)


_WRITERS: dict[type, Callable[[Any], str]] = {}
_quote = json.encoder.encode_basestring_ascii  # what the default encoder uses for str


def _make_writer(kind: type) -> Callable[[Any], str]:
    # One generated function per event class, giving exactly _compact.encode(to_dict()):
    # no dict and no generic encoder walk per event (events are encoded on every step).
    hints = get_type_hints(kind)
    parts = [repr(f'{{"EventType":{_quote(kind.event_type)}')]  # type: ignore[attr-defined]
    for attr, key, _, _ in _plan(kind):
        hint = hints[attr]
        head = repr(f",{_quote(key)}:")
        v = f"self.{attr}"
        other = f"_value(self, {attr!r}, _plan_{attr})"  # a value of another type than hinted
        if attr in _OMITTED:
            parts += [f"('' if {v} is None else {head} + {other})"]
        elif hint is int:
            parts += [head, f"(str({v}) if {v}.__class__ is int else {other})"]
        elif hint is bool:
            parts += [head, f"('true' if {v} is True else 'false' if {v} is False else {other})"]
        elif hint is str:
            parts += [head, f"(_quote({v}) if {v}.__class__ is str else {other})"]
        elif hint == str | None:
            text = f"_quote({v}) if {v}.__class__ is str else {other}"
            parts += [head, f"('null' if {v} is None else {text})"]
        elif hint is _dt.datetime:
            parts += [head, f"'\"' + _format_time({v}) + '\"'"]
        else:
            parts += [head, other]
    source = f"def write(self):\n    return ''.join(({', '.join(parts)}, '}}'))\n"
    scope: dict[str, Any] = {"_quote": _quote, "_format_time": _format_time, "_value": _value}
    scope.update({f"_plan_{attr}": encode for attr, _, encode, _ in _plan(kind)})
    exec(source, scope)  # the source is built from our own dataclass fields only
    return scope["write"]  # type: ignore[no-any-return]


def _value(event: Any, attr: str, encode: _Codec) -> str:
    value = getattr(event, attr)
    return _compact.encode(value if encode is None or value is None else encode(value))


def _status_value(status: OrchestrationRuntimeStatus) -> str:
    return status.value


def parse_time(value: str) -> _dt.datetime:
    """Parse an ISO-8601 timestamp; naive values are taken as UTC."""
    parsed = _dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestratorStarted(HistoryEvent):
    """An episode began; its timestamp is the orchestration's current time."""

    event_type: ClassVar[str] = "OrchestratorStarted"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestratorCompleted(HistoryEvent):
    """An episode ended."""

    event_type: ClassVar[str] = "OrchestratorCompleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStarted(HistoryEvent):
    event_type: ClassVar[str] = "ExecutionStarted"
    name: str
    instance_id: str
    input: str | None = None
    parent_instance_id: str | None = None
    parent_task_id: int = -1
    version: str | None = None
    """The version of the app that started the execution (``App(version=...)``)."""
    parent_trace_context: str | None = None
    """The W3C traceparent of the span that started the execution (its caller's, or its
    parent orchestration's); absent from the JSON when None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionCompleted(HistoryEvent):
    event_type: ClassVar[str] = "ExecutionCompleted"
    orchestration_status: OrchestrationRuntimeStatus
    result: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionTerminated(HistoryEvent):
    """A termination request; ``recurse`` also terminates running sub-orchestrations."""

    event_type: ClassVar[str] = "ExecutionTerminated"
    input: str | None = None  # the reason, as JSON text
    recurse: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSuspended(HistoryEvent):
    event_type: ClassVar[str] = "ExecutionSuspended"
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResumed(HistoryEvent):
    event_type: ClassVar[str] = "ExecutionResumed"
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContinueAsNew(HistoryEvent):
    """The execution ended and a new one starts with ``input``."""

    event_type: ClassVar[str] = "ContinueAsNew"
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskScheduled(HistoryEvent):
    event_type: ClassVar[str] = "TaskScheduled"
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCompleted(HistoryEvent):
    event_type: ClassVar[str] = "TaskCompleted"
    task_scheduled_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed(HistoryEvent):
    event_type: ClassVar[str] = "TaskFailed"
    task_scheduled_id: int
    failure_details: FailureDetails


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerCreated(HistoryEvent):
    event_type: ClassVar[str] = "TimerCreated"
    fire_at: _dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(HistoryEvent):
    event_type: ClassVar[str] = "TimerFired"
    timer_id: int
    fire_at: _dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRaised(HistoryEvent):
    event_type: ClassVar[str] = "EventRaised"
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSent(HistoryEvent):
    event_type: ClassVar[str] = "EventSent"
    instance_id: str
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceCreated(HistoryEvent):
    event_type: ClassVar[str] = "SubOrchestrationInstanceCreated"
    name: str
    instance_id: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceCompleted(HistoryEvent):
    event_type: ClassVar[str] = "SubOrchestrationInstanceCompleted"
    task_scheduled_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceFailed(HistoryEvent):
    event_type: ClassVar[str] = "SubOrchestrationInstanceFailed"
    task_scheduled_id: int
    failure_details: FailureDetails


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericEvent(HistoryEvent):
    """A free-form note in history (durably records rewinds with it)."""

    event_type: ClassVar[str] = "GenericEvent"
    data: str | None = None


# -- durable entities (the DTFx names) -----------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class EntityOperationCalled(HistoryEvent):
    """An orchestration called an entity's operation and waits for its result (in the
    caller's history; also the request message the entity receives)."""

    event_type: ClassVar[str] = "EntityOperationCalled"
    request_id: str
    operation: str
    input: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    target_instance_id: str
    parent_trace_context: str | None = None
    """The W3C traceparent of the caller's span (absent from the JSON when None)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityOperationSignaled(HistoryEvent):
    """A one-way operation request to an entity (no result comes back)."""

    event_type: ClassVar[str] = "EntityOperationSignaled"
    request_id: str
    operation: str
    input: str | None = None
    scheduled_time: _dt.datetime | None = None
    target_instance_id: str
    parent_trace_context: str | None = None
    """The W3C traceparent of the sender's span (absent from the JSON when None)."""
    sender_instance_id: str | None = None
    """The orchestration that sent it (None: a client); absent from the JSON when None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityOperationCompleted(HistoryEvent):
    """The result of a called operation, delivered to the caller."""

    event_type: ClassVar[str] = "EntityOperationCompleted"
    request_id: str
    output: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityOperationFailed(HistoryEvent):
    """The error of a called operation, delivered to the caller."""

    event_type: ClassVar[str] = "EntityOperationFailed"
    request_id: str
    failure_details: FailureDetails


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityLockRequested(HistoryEvent):
    """An orchestration asked for the locks of ``lock_set`` (entity instance ids, in the
    global order they are taken in); the request travels along the set, ``position``
    naming the entity it is at."""

    event_type: ClassVar[str] = "EntityLockRequested"
    critical_section_id: str
    lock_set: list[str]
    position: int = 0
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityLockGranted(HistoryEvent):
    """Every lock of the critical section is held (delivered to the orchestration)."""

    event_type: ClassVar[str] = "EntityLockGranted"
    critical_section_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityUnlockSent(HistoryEvent):
    """The orchestration released its lock on ``target_instance_id``."""

    event_type: ClassVar[str] = "EntityUnlockSent"
    critical_section_id: str
    parent_instance_id: str | None = None
    target_instance_id: str


AnyHistoryEvent: TypeAlias = (
    OrchestratorStarted
    | OrchestratorCompleted
    | ExecutionStarted
    | ExecutionCompleted
    | ExecutionTerminated
    | ExecutionSuspended
    | ExecutionResumed
    | ContinueAsNew
    | TaskScheduled
    | TaskCompleted
    | TaskFailed
    | TimerCreated
    | TimerFired
    | EventRaised
    | EventSent
    | SubOrchestrationInstanceCreated
    | SubOrchestrationInstanceCompleted
    | SubOrchestrationInstanceFailed
    | GenericEvent
    | EntityOperationCalled
    | EntityOperationSignaled
    | EntityOperationCompleted
    | EntityOperationFailed
    | EntityLockRequested
    | EntityLockGranted
    | EntityUnlockSent
)
"""Every concrete event class (``HistoryEvent`` is only their base): ``match`` on it with
class patterns ending in ``assert_never``, so that mypy proves every event is handled."""

EVENT_TYPES: dict[str, type[HistoryEvent]] = {
    kind.event_type: kind for kind in get_args(AnyHistoryEvent)
}
