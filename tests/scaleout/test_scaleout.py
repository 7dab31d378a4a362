"""Scale-out on PostgreSQL with real processes: four workers share one database.

Each test gets a throwaway schema and its own application_name, so disruptions
(``pg_terminate_backend``) hit only this test's processes, never other sessions on the
server. Every finished instance is checked: the right output, and a well-formed history
(one ExecutionStarted, one ExecutionCompleted, every task scheduled once and completed
once), which a duplicate episode commit would break.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

import durably
from durably.history import (
    ExecutionCompleted,
    ExecutionStarted,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
)
from tests import pg
from tests.processes import start_app, wait_ready
from tests.scaleout.app import CHAIN_LENGTH, expected

INSTANCES = 500
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Cluster:
    """Worker processes of this test on one PostgreSQL schema."""

    server: str
    schema: str
    app_name: str
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)

    @property
    def store(self) -> str:
        return pg.with_query(self.server, schema=self.schema, application_name=self.app_name)

    def spawn(self, count: int) -> list[subprocess.Popen[str]]:
        """Start ``count`` worker processes at once; returns when all are ready."""
        started = [start_app("tests.scaleout.app", self.store) for _ in range(count)]
        for process in started:
            wait_ready(process)
        self.workers += started
        return started

    def finished(self) -> int:
        """Instances in a terminal status (the docs' monitoring query, by status)."""
        with pg.admin(self.server) as connection:
            row = connection.execute(
                f"SELECT count(*) FROM {self.schema}.durably_instances"
                " WHERE runtime_status IN ('Completed', 'Failed', 'Terminated')"
            ).fetchone()
        return int(row[0])

    def wait_finished(self, total: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (done := self.finished()) < total:
            assert time.monotonic() < deadline, f"only {done} of {total} finished"
            self.assert_alive()
            time.sleep(0.2)

    def assert_alive(self) -> None:
        """No worker exited except those the test killed."""
        dead = [p.pid for p in self.workers if p.poll() is not None and p.pid not in self.killed]
        assert not dead, f"worker processes {dead} died"

    def sigkill(self, process: subprocess.Popen[str]) -> None:
        self.killed.add(process.pid)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        """SIGTERM the live workers and wait: each must exit cleanly (status 0)."""
        live = [p for p in self.workers if p.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        codes = {process.pid: process.wait(timeout=60) for process in live}
        assert all(code == 0 for code in codes.values()), codes

    def kill_all(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    server = pg.server_url()
    with pg.fresh_schema(server, "scale") as schema:
        cluster = Cluster(server, schema, f"durably-scale-{uuid.uuid4().hex[:8]}")
        try:
            yield cluster
        finally:
            cluster.kill_all()


def _start_workload(client: durably.Client, count: int = INSTANCES) -> dict[str, tuple[str, int]]:
    started = {}
    for n in range(count):
        name, value = ("chain", n) if n % 2 == 0 else ("fan_out", 3 + n % 4)
        instance_id = client.start_new(name, instance_id=f"{name}-{n}", client_input=value)
        started[instance_id] = (name, value)
    return started


def _check_history(client: durably.Client, instance_id: str, name: str, value: int) -> None:
    history = client.get_history(instance_id)
    kinds = collections.Counter(type(e) for e in history)
    assert kinds[ExecutionStarted] == 1 and kinds[ExecutionCompleted] == 1, kinds
    assert kinds[TaskFailed] == 0, instance_id
    scheduled = [e.event_id for e in history if isinstance(e, TaskScheduled)]
    completed = [e.task_scheduled_id for e in history if isinstance(e, TaskCompleted)]
    assert len(scheduled) == len(set(scheduled)), f"{instance_id}: a task scheduled twice"
    assert len(completed) == len(set(completed)), f"{instance_id}: a task completed twice"
    assert set(completed) == set(scheduled)
    assert len(scheduled) == (CHAIN_LENGTH if name == "chain" else value + 1)


def _verify(client: durably.Client, ids: dict[str, tuple[str, int]]) -> set[int]:
    """Every instance completed correctly; the worker pids that ran its activities."""
    pids: set[int] = set()
    for instance_id, (name, value) in ids.items():
        status = client.get_status(instance_id)
        assert status is not None
        assert status.runtime_status == "Completed", (instance_id, status.output)
        assert status.output["value"] == expected(name, value), instance_id
        pids.update(status.output["pids"])
        _check_history(client, instance_id, name, value)
    return pids


def test_four_workers_finish_500_orchestrations_once_each(cluster: Cluster) -> None:
    workers = cluster.spawn(4)  # at once, on an empty schema: the migrations race too
    with durably.Client(cluster.store) as client:
        ids = _start_workload(client)
        cluster.wait_finished(len(ids), timeout=180)
        pids = _verify(client, ids)
    cluster.stop()
    assert pids == {w.pid for w in workers}, "every worker should have taken work"


def test_sigkill_of_two_workers_mid_run_loses_nothing(cluster: Cluster) -> None:
    with durably.Client(cluster.store) as client:
        ids = _start_workload(client)  # before the workers: "mid-run" is then well defined
        workers = cluster.spawn(4)
        # Instances advance together, so completions come in a burst at the end: the
        # first few finished means most are mid-flight.
        cluster.wait_finished(len(ids) // 20, timeout=120)
        for victim in workers[:2]:
            cluster.sigkill(victim)
        assert cluster.finished() < len(ids), "the kills should land mid-run"
        cluster.wait_finished(len(ids), timeout=180)
        _verify(client, ids)
    cluster.stop()


def test_workers_survive_the_server_dropping_every_connection(cluster: Cluster) -> None:
    with durably.Client(cluster.store) as client:
        ids = _start_workload(client)
        cluster.spawn(4)
        cluster.wait_finished(len(ids) // 20, timeout=120)
        before = cluster.finished()
        for _ in range(2):  # twice: the second lands while some are still reconnecting
            assert pg.terminate(cluster.server, cluster.app_name) >= 4
            time.sleep(0.3)
        assert before < len(ids), "the disruption should land mid-run"
        cluster.wait_finished(len(ids), timeout=180)
        cluster.assert_alive()
        # Each worker listens again (the test's own client may, too).
        listeners = pg.connections(cluster.server, cluster.app_name)
        assert sum(name.endswith("-listener") for name in listeners) >= 4, listeners
        _verify(client, ids)
