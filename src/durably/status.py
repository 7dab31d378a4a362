"""What the client returns: instance statuses, pages, purge results."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from durably import payload
from durably.backends.base import InstanceRecord
from durably.codecs import Codec
from durably.history import HistoryEvent, OrchestrationRuntimeStatus

_PAYLOAD_KEYS = ("Input", "Result")


@dataclass(frozen=True, slots=True, kw_only=True)
class DurableOrchestrationStatus:
    """The status of one orchestration instance (Durable Functions' shape).

    ``output`` is the orchestrator's return value; for a Failed instance it is the error
    as text (type, message and traceback). ``history`` is filled when asked for, as the
    Durable Functions JSON shape of each event.
    """

    name: str
    instance_id: str
    created_time: _dt.datetime
    last_updated_time: _dt.datetime
    input_: Any = None
    output: Any = None
    runtime_status: OrchestrationRuntimeStatus
    custom_status: Any = None
    history: list[dict[str, Any]] | None = None
    parent_instance_id: str | None = None
    version: str | None = None
    """The version of the app that started the current execution (``App(version=)``)."""
    waiting: str | None = None
    """Why the instance's work waits for another worker (``Worker(unknown_function=
    "wait")``), until the instance next moves on; None when nothing waits so."""

    @classmethod
    def from_record(
        cls,
        record: InstanceRecord,
        *,
        show_input: bool = True,
        history: list[HistoryEvent] | None = None,
        show_history_output: bool = False,
        codec: Codec | None = None,
    ) -> DurableOrchestrationStatus:
        """The status of ``record``; payloads encoded by ``codec`` are decoded (without
        it they show as encoded: JSON naming the codec)."""
        return cls(
            name=record.name,
            instance_id=record.instance_id,
            created_time=record.created_time,
            last_updated_time=record.last_updated_time,
            input_=payload.loads(record.input, codec) if show_input else None,
            output=payload.loads(record.output, codec),
            runtime_status=record.runtime_status,
            custom_status=payload.loads(record.custom_status, codec),
            history=None
            if history is None
            else _history_dicts(history, show_history_output, codec),
            parent_instance_id=record.parent_instance_id,
            version=record.version,
            waiting=record.waiting,
        )

    def to_json(self) -> dict[str, Any]:
        """The HTTP API's body for this status."""
        body: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input_,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": _iso(self.created_time),
            "lastUpdatedTime": _iso(self.last_updated_time),
        }
        if self.version is not None:
            body["version"] = self.version
        if self.parent_instance_id is not None:
            body["parentInstanceId"] = self.parent_instance_id
        if self.waiting is not None:
            body["waiting"] = self.waiting
        if self.history is not None:
            body["historyEvents"] = self.history
        return body


def _iso(value: _dt.datetime) -> str:
    return value.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")


def _history_dicts(
    events: list[HistoryEvent], show_output: bool, codec: Codec | None = None
) -> list[dict[str, Any]]:
    out = []
    for event in events:
        data = event.to_dict()
        for key in _PAYLOAD_KEYS:
            if key in data:
                data[key] = payload.loads(data[key], codec) if show_output else None
        out.append(data)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class InstancePage:
    """One page of :meth:`Client.list_instances`; ``continuation_token`` is None at the end."""

    instances: list[DurableOrchestrationStatus] = field(default_factory=list)
    continuation_token: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeHistoryResult:
    instances_deleted: int
