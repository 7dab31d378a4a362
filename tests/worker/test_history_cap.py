"""max_history_events caps one execution's history: an orchestration that would grow past
it fails with HistoryTooLongError, and one that continues as new goes on."""

from __future__ import annotations

from typing import Any

import pytest

import durably
from durably.backends.base import Backend

app = durably.App(max_history_events=40)


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def endless(context: durably.OrchestrationContext) -> Any:
    x = 0
    while x < 100:
        x = yield context.call_activity(add_one, x)
    return x


@app.orchestrator
def in_stretches(context: durably.OrchestrationContext) -> Any:
    x = context.get_input() or 0
    for _ in range(5):
        x = yield context.call_activity(add_one, x)
    if x < 30:
        context.continue_as_new(x)
        return None
    return x


def test_a_history_past_the_cap_fails_and_continue_as_new_goes_on(backend: Backend) -> None:
    with durably.Worker(app, store=backend) as worker:
        client = worker.client()
        failed = client.wait_for_completion(client.start_new(endless), timeout=30)
        instance_id = client.start_new(in_stretches)
        ok = client.wait_for_completion(instance_id, timeout=30)
        history = client.get_history(instance_id)
    assert failed.runtime_status == "Failed"
    assert failed.output.startswith("HistoryTooLongError: this episode would bring")
    assert "over the limit of 40 (max_history_events)" in failed.output
    assert "context.continue_as_new" in failed.output
    assert (ok.runtime_status, ok.output) == ("Completed", 30)
    assert len(history) <= 40


@pytest.mark.parametrize("limit", [0, 9, 10.5, "many"])
def test_a_cap_that_cannot_work_is_refused(limit: Any) -> None:
    with pytest.raises(
        ValueError, match="max_history_events must be a whole number of at least 10"
    ):
        durably.App(max_history_events=limit)
