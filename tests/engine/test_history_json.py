"""History events survive the Durable Functions JSON shape unchanged."""

from __future__ import annotations

import datetime as _dt
import json

import pytest

from durably.history import (
    EVENT_TYPES,
    ContinueAsNew,
    EntityLockGranted,
    EntityLockRequested,
    EntityOperationCalled,
    EntityOperationCompleted,
    EntityOperationFailed,
    EntityOperationSignaled,
    EntityUnlockSent,
    EventSent,
    ExecutionCompleted,
    GenericEvent,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)

from . import golden
from .helpers import (
    at,
    completed,
    failed,
    failure,
    fired,
    raised,
    resumed,
    started,
    sub_completed,
    sub_failed,
    suspended,
    terminated,
)

EVERY_KIND: list[HistoryEvent] = [
    OrchestratorStarted(timestamp=at(0)),
    started({"a": [1, 2]}, parent_instance_id="p"),
    TaskScheduled(event_id=0, timestamp=at(0), name="act", input='"x"'),
    TimerCreated(event_id=1, timestamp=at(0), fire_at=at(60.5)),
    SubOrchestrationInstanceCreated(event_id=2, timestamp=at(0), name="c", instance_id="p:1"),
    EventSent(event_id=3, timestamp=at(0), instance_id="other", name="e", input="1"),
    OrchestratorCompleted(timestamp=at(0)),
    completed(0, {"ok": True}),
    failed(0, "KeyError", "k"),
    fired(1, at(60.5)),
    raised("evt", [1]),
    sub_completed(2, "r"),
    sub_failed(2),
    suspended(),
    resumed(),
    terminated("why"),
    ContinueAsNew(timestamp=at(1), input="2"),
    ExecutionCompleted(
        timestamp=at(2),
        orchestration_status=OrchestrationRuntimeStatus.Failed,
        failure_details=failure(),
    ),
    GenericEvent(timestamp=at(3), data="rewound"),
    EntityOperationCalled(
        event_id=4,
        timestamp=at(0),
        request_id="r1",
        operation="add",
        input="1",
        target_instance_id="@counter@k",
    ),
    EntityOperationSignaled(
        event_id=5,
        timestamp=at(0),
        request_id="r2",
        operation="add",
        scheduled_time=at(9),
        target_instance_id="@counter@k",
    ),
    EntityOperationCompleted(timestamp=at(1), request_id="r1", output="2"),
    EntityOperationFailed(timestamp=at(1), request_id="r1", failure_details=failure()),
    EntityLockRequested(
        event_id=6,
        timestamp=at(0),
        critical_section_id="s1",
        lock_set=["@account@a", "@account@b"],
        position=1,
        parent_instance_id="p",
        parent_execution_id="e",
    ),
    EntityLockGranted(timestamp=at(1), critical_section_id="s1"),
    EntityUnlockSent(
        event_id=7,
        timestamp=at(2),
        critical_section_id="s1",
        parent_instance_id="p",
        target_instance_id="@account@a",
    ),
]


def test_every_event_type_is_covered() -> None:
    assert {type(e) for e in EVERY_KIND} == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: e.event_type)
def test_event_round_trips_through_its_dict_and_json(event: HistoryEvent) -> None:
    assert HistoryEvent.from_dict(event.to_dict()) == event
    assert HistoryEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: e.event_type)
def test_json_is_the_compact_encoding_of_the_dict(event: HistoryEvent) -> None:
    # Stores keep to_json() text: it must be exactly what a JSON encoder makes of to_dict().
    assert event.to_json() == json.dumps(event.to_dict(), separators=(",", ":"))


def test_json_escapes_text_as_the_standard_encoder_does() -> None:
    event = TaskScheduled(event_id=7, timestamp=at(0), name='sé"\\n\x00😀', input=None)
    assert event.to_json() == json.dumps(event.to_dict(), separators=(",", ":"))
    assert HistoryEvent.from_json(event.to_json()) == event


def test_json_of_values_of_another_type_than_declared_matches_too() -> None:
    # Dataclasses do not check types: an int input or a bool id encodes as JSON would.
    odd = TaskScheduled(event_id=True, timestamp=at(0), name="a", input=5)  # type: ignore[arg-type]
    assert odd.to_json() == json.dumps(odd.to_dict(), separators=(",", ":"))


def test_dict_shape_uses_durable_functions_names() -> None:
    data = fired(1, at(60.5)).to_dict()
    assert data == {
        "EventType": "TimerFired",
        "EventId": -1,
        "Timestamp": "2024-01-01T00:01:00.500000Z",
        "TimerId": 1,
        "FireAt": "2024-01-01T00:01:00.500000Z",
    }


def test_naive_timestamps_are_read_as_utc() -> None:
    event = HistoryEvent.from_dict({"EventType": "OrchestratorStarted", "Timestamp": "2024-01-01"})
    assert event.timestamp == _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown history event type 'Nope'"):
        HistoryEvent.from_dict({"EventType": "Nope"})


@pytest.mark.parametrize("name", sorted(golden.SCENARIOS))
def test_golden_files_round_trip(name: str) -> None:
    dicts = golden.load(name)
    assert [HistoryEvent.from_dict(d).to_dict() for d in dicts] == dicts
