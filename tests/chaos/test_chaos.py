"""The chaos suite in ``make test``: a bounded run on each store, and the oracle itself.

``make chaos`` runs the long version (10,000 instances and 1,000 faults per store, server
restarts on PostgreSQL). Here each store gets a few hundred instances and a few dozen
faults: enough for every fault kind to land and every check of the oracle to run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import durably
from durably.backends import open_backend
from durably.history import ExecutionStarted, HistoryEvent, TaskCompleted, TaskScheduled
from tests import pg
from tests.chaos import app as chaos_app
from tests.chaos.harness import Config, run
from tests.chaos.oracle import history_problems


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_bounded_chaos_run_on_sqlite_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report = run(Config("sqlite", instances=300, faults=40, seed=12, interval=0.15), tmp_path)
    assert report.ok, report.markdown()
    assert report.instances >= 300 and sum(report.faults.values()) >= 40
    assert {"sigkill", "sigterm", "pause"} <= set(report.faults)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_a_bounded_chaos_run_on_postgres_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    pg.server_url()
    report = run(Config("postgres", instances=300, faults=40, seed=12, interval=0.15), tmp_path)
    assert report.ok, report.markdown()
    assert report.instances >= 300 and sum(report.faults.values()) >= 40
    assert {"sigkill", "cut-all", "cut-one"} <= set(report.faults)


@pytest.fixture(scope="module")
def chain_history(tmp_path_factory: pytest.TempPathFactory) -> list[HistoryEvent]:
    """A real history of the chaos ``chain`` orchestrator (three activities)."""
    store = open_backend(f"sqlite:///{tmp_path_factory.mktemp('oracle') / 'o.db'}")
    with durably.Worker(chaos_app.app, store=store) as worker:
        client = worker.client()
        instance_id = client.start_new(chaos_app.chain, client_input={"x": 1, "n": 3})
        assert client.wait_for_completion(instance_id, timeout=30).output == 4
        return client.get_history(instance_id)


def test_the_oracle_accepts_a_clean_history(chain_history: list[HistoryEvent]) -> None:
    assert history_problems(chain_history, "chain") == []


def test_the_oracle_flags_a_result_recorded_twice(chain_history: list[HistoryEvent]) -> None:
    first = next(e for e in chain_history if isinstance(e, TaskCompleted))
    doubled = [*chain_history, dataclasses.replace(first, event_id=-1)]
    assert history_problems(doubled, "chain") == [f"task {first.task_scheduled_id} settled 2 times"]


def test_the_oracle_flags_a_lost_result(chain_history: list[HistoryEvent]) -> None:
    first = next(e for e in chain_history if isinstance(e, TaskCompleted))
    assert history_problems([e for e in chain_history if e is not first], "chain") == [
        f"task {first.task_scheduled_id} settled 0 times"
    ]


def test_the_oracle_flags_a_step_scheduled_twice(chain_history: list[HistoryEvent]) -> None:
    first = next(e for e in chain_history if isinstance(e, TaskScheduled))
    problems = history_problems([*chain_history, first], "chain")
    assert problems[0].startswith("a task scheduled twice")


def test_the_oracle_flags_a_second_start(chain_history: list[HistoryEvent]) -> None:
    start = next(e for e in chain_history if isinstance(e, ExecutionStarted))
    assert history_problems([*chain_history, start], "chain") == ["2 ExecutionStarted events"]
