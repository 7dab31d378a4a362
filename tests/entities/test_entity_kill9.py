"""Kill -9 worker processes in the middle of a signal storm to entities: no operation is
lost, none is applied twice, and each sender's arrive in the order sent."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

import durably
from durably import EntityId
from tests.entities.storm_app import KEYS, expected
from tests.processes import spawn_ready

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def _spawn(store: str) -> subprocess.Popen[str]:
    return spawn_ready("tests.entities.storm_app", store)


def _storm_with_kills(store: str) -> None:
    with durably.Client(store) as client:
        ids = [client.start_new("storm", f"storm-{n}") for n in range(12)]
        for delay in (0.4, 0.7, 0.5):
            worker = _spawn(store)
            time.sleep(delay)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            assert worker.stdout is not None
            worker.stdout.close()
        early = sum(client.get_status(i).runtime_status == "Completed" for i in ids)  # type: ignore[union-attr]
        assert early < len(ids), "the kills should land mid-storm"
        survivor = _spawn(store)
        try:
            for instance_id in ids:
                assert client.wait_for_completion(instance_id, timeout=120).output == 40
            wanted = expected(ids)
            deadline = time.monotonic() + 60
            while True:
                held = {
                    str(k): client.read_entity_state(EntityId("tally", str(k))).entity_state
                    for k in range(KEYS)
                }
                if held == wanted or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert held == wanted
        finally:
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(timeout=30) == 0
            assert survivor.stdout is not None
            survivor.stdout.close()


def test_sigkill_mid_signal_storm_loses_and_doubles_nothing(tmp_path: Path) -> None:
    _storm_with_kills(f"sqlite:///{tmp_path / 'storm.db'}")


@pytest.mark.postgres
def test_sigkill_mid_signal_storm_on_postgres() -> None:
    from tests import pg

    _storm_with_kills(pg.with_query(pg.server_url(), task_hub=f"storm-{time.monotonic_ns()}"))
