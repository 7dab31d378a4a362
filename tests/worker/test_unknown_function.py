"""Worker(unknown_function="wait", grace=...): during a rolling deploy a worker leaves the
work of orchestrators and activities its app lacks to a worker that has them, and fails
it only after the grace period. The default ("fail") fails it at once."""

from __future__ import annotations

import time
from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.backends.memory import MemoryBackend


def _apps() -> tuple[durably.App, durably.App]:
    """The app before the deploy (no ``report`` orchestrator, no ``render`` activity) and
    after it."""
    before, after = durably.App(), durably.App()

    @before.orchestrator(name="greet")
    @after.orchestrator(name="greet")
    def greet(context: durably.OrchestrationContext) -> Any:
        return f"hello {context.get_input()}"
        yield

    @after.orchestrator(name="report")
    def report(context: durably.OrchestrationContext) -> Any:
        return (yield context.call_activity("render", context.get_input()))

    @before.orchestrator(name="summary")
    @after.orchestrator(name="summary")
    def summary(context: durably.OrchestrationContext) -> Any:
        try:
            return (yield context.call_activity("render", context.get_input()))
        except durably.TaskFailedError as error:
            return f"failed: {error}"

    @after.activity(name="render")
    def render(text: str) -> str:
        return f"<{text}>"

    return before, after


def _still(store: Backend, instance_id: str, status: str, seconds: float = 0.5) -> None:
    """The instance reaches ``status`` and stays in it for ``seconds``."""
    client = durably.Client(store)
    deadline = time.monotonic() + 30
    while client.get_status(instance_id).runtime_status != status:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"{instance_id} never became {status}"
        time.sleep(0.02)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = client.get_status(instance_id)
        assert found is not None and found.runtime_status == status
        time.sleep(0.05)


def _noted(store: Backend, instance_id: str) -> str:
    """The waiting note the instance's status shows (within 30 s)."""
    client = durably.Client(store)
    deadline = time.monotonic() + 30
    while True:
        found = client.get_status(instance_id)
        assert found is not None
        if found.waiting is not None:
            assert found.to_json()["waiting"] == found.waiting
            return found.waiting
        assert time.monotonic() < deadline, f"{instance_id} was never shown as waiting"
        time.sleep(0.05)


def test_an_unknown_orchestrator_waits_for_a_worker_that_has_it(backend: Backend) -> None:
    before, after = _apps()
    instance_id = durably.Client(backend).start_new("report", "r1", "q3")
    with durably.Worker(
        before, store=backend, unknown_function="wait", grace=60, poll_interval=0.05
    ) as old:
        greeted = old.client().start_new("greet", "g1", "ana")
        assert old.client().wait_for_completion(greeted, timeout=30).output == "hello ana"
        _still(backend, instance_id, "Pending")
        note = _noted(backend, instance_id)
        assert note.startswith("waiting for a worker with orchestrator 'report'")
        assert old.worker_id in note and "fails at 20" in note
        with durably.Worker(after, store=backend, poll_interval=0.05):
            status = durably.Client(backend).wait_for_completion(instance_id, timeout=30)
    assert status.runtime_status == "Completed" and status.output == "<q3>"
    assert status.waiting is None and "waiting" not in status.to_json()


def test_an_unknown_orchestrator_fails_after_the_grace_period(backend: Backend) -> None:
    before, _ = _apps()
    instance_id = durably.Client(backend).start_new("report", "r1", "q3")
    with durably.Worker(
        before, store=backend, unknown_function="wait", grace=0.3, poll_interval=0.05
    ):
        status = durably.Client(backend).wait_for_completion(instance_id, timeout=30)
    assert status.runtime_status == "Failed"
    assert str(status.output).startswith(
        "ValueError: no orchestrator named 'report' on any worker within the grace period"
    )


def test_an_unknown_activity_waits_then_fails_after_the_grace_period(backend: Backend) -> None:
    before, after = _apps()
    client = durably.Client(backend)
    waiting, failing = (
        client.start_new("summary", "s1", "x"),
        client.start_new("summary", "s2", "y"),
    )
    options: dict[str, Any] = {"unknown_function": "wait", "poll_interval": 0.05}
    with durably.Worker(before, store=backend, grace=60, **options):
        _still(backend, waiting, "Running")
        assert _noted(backend, waiting).startswith("waiting for a worker with activity 'render'")
        with durably.Worker(after, store=backend, poll_interval=0.05):
            assert client.wait_for_completion(waiting, timeout=30).output == "<x>"
            assert client.wait_for_completion(failing, timeout=30).output == "<y>"
    assert client.get_status(waiting).waiting is None  # type: ignore[union-attr]
    again = client.start_new("summary", "s3", "z")
    with durably.Worker(before, store=backend, grace=0.3, **options):
        status = client.wait_for_completion(again, timeout=30)
    assert str(status.output).startswith("failed: ")
    assert "no activity named 'render'" in str(status.output)


def test_by_default_unknown_work_fails_at_once() -> None:
    before, _ = _apps()
    store = MemoryBackend()
    instance_id = durably.Client(store).start_new("report", "r1", "q3")
    with durably.Worker(before, store=store) as worker:
        status = worker.client().wait_for_completion(instance_id, timeout=30)
    assert str(status.output).startswith("ValueError: no orchestrator named 'report'")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"unknown_function": "skip"}, "unknown_function must be 'fail' or 'wait'"),
        ({"grace": 0}, "grace must be a positive number of seconds"),
    ],
)
def test_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        durably.Worker(_apps()[0], store=MemoryBackend(), **options)
