"""The CLI's tables show every value an event has, 1 and True included."""

from __future__ import annotations

from durably.cli.render import console, print_history


def test_history_details_keep_ones_and_booleans() -> None:
    events = [
        {"EventType": "TaskCompleted", "EventId": -1, "TaskScheduledId": 0, "Result": 1},
        {"EventType": "EventRaised", "EventId": -1, "Name": "flag", "Input": True},
        {"EventType": "EventRaised", "EventId": -1, "Name": "none", "Input": None},
    ]
    with console.capture() as captured:
        print_history(events)
    text = captured.get()
    assert '{"Result": 1}' in text
    assert '{"Name": "flag", "Input": true}' in text
    assert '{"Name": "none"}' in text
