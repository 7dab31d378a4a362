"""App(version=...) is stamped on each new instance: its status, its history's
ExecutionStarted, context.version; sub-orchestrations and continue-as-new take the
version of the app that runs them."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import durably
from durably.backends.base import Backend
from durably.cli import main
from durably.history import ExecutionStarted


def _app(version: str | None) -> durably.App:
    app = durably.App(version=version)

    @app.orchestrator
    def child(context: durably.OrchestrationContext) -> Any:
        return context.version
        yield

    @app.orchestrator
    def parent(context: durably.OrchestrationContext) -> Any:
        mine = context.version
        theirs = yield context.call_sub_orchestrator("child", instance_id="kid")
        return [mine, theirs]

    @app.orchestrator
    def rounds(context: durably.OrchestrationContext) -> Any:
        seen = [*(context.get_input() or []), context.version]
        if len(seen) < 2:
            yield context.wait_for_external_event("next")
            context.continue_as_new(seen)
            return None
        return seen

    return app


def _start(history: list[Any]) -> ExecutionStarted:
    (start,) = [e for e in history if isinstance(e, ExecutionStarted)]
    return start


def test_an_instance_carries_the_version_of_the_app_that_started_it(backend: Backend) -> None:
    with durably.Worker(_app("2.0"), store=backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("parent", "p"), timeout=30)
        child = client.get_status("kid")
        history = client.get_history("p")
    assert status.output == ["2.0", "2.0"] and status.version == "2.0"
    assert child is not None and child.version == "2.0"
    assert _start(history).version == "2.0"
    assert status.to_json()["version"] == "2.0"


def test_continue_as_new_takes_the_version_of_the_worker_that_runs_it(backend: Backend) -> None:
    with durably.Worker(_app("1.0"), store=backend) as worker:
        client = worker.client()
        instance_id = client.start_new("rounds", "r")
        assert client.get_status(instance_id).version == "1.0"  # type: ignore[union-attr]
    with durably.Worker(_app("1.1"), store=backend) as worker:  # the deploy
        client = worker.client()
        client.raise_event(instance_id, "next")
        status = client.wait_for_completion(instance_id, timeout=30)
    assert status.output == ["1.0", "1.1"] and status.version == "1.1"
    assert _start(client.get_history(instance_id)).version == "1.1"


def test_without_a_version_nothing_is_stamped(backend: Backend) -> None:
    with durably.Worker(_app(None), store=backend) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("parent", "p"), timeout=30)
    assert status.output == [None, None] and status.version is None
    assert "version" not in status.to_json()


def test_the_cli_shows_the_version(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with durably.Worker(_app("3.1"), store=url) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("parent", "p"), timeout=30)
    runner = CliRunner()
    status = runner.invoke(main, ["status", "p", "--store", url])
    listed = runner.invoke(main, ["list", "--store", url])
    assert status.exit_code == 0 and "version" in status.output and "3.1" in status.output
    assert listed.exit_code == 0 and "version" in listed.output and "3.1" in listed.output


@pytest.mark.parametrize("version", ["", "   ", "x" * 101, 2])
def test_a_bad_version_is_refused(version: Any) -> None:
    with pytest.raises(ValueError, match="version must be a non-empty string"):
        durably.App(version=version)
