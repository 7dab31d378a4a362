"""Worker(version_match=..., version_failure=...): a worker runs only the instances of the
versions it takes; the others wait for a worker that takes them, or fail."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import durably
from durably.backends.base import Backend
from durably.backends.memory import MemoryBackend


def _app(version: str | None) -> durably.App:
    app = durably.App(version=version)

    @app.orchestrator
    def job(context: durably.OrchestrationContext) -> Any:
        yield context.create_timer(context.current_utc_datetime)
        return {"started_by": context.version, "run_by": version}

    return app


def _start(store: Backend, version: str | None, instance_id: str) -> str:
    return durably.Client(store, app=_app(version)).start_new("job", instance_id)


def _status(store: Backend, instance_id: str) -> str:
    status = durably.Client(store).get_status(instance_id)
    assert status is not None
    return status.runtime_status.value


def _finish(store: Backend, version: str, instance_id: str, **options: Any) -> Any:
    with durably.Worker(_app(version), store=store, **options) as worker:
        return worker.client().wait_for_completion(instance_id, timeout=30).output


def test_a_strict_worker_leaves_other_versions_to_their_workers(backend: Backend) -> None:
    newer, older, plain = (
        _start(backend, "2.0", "newer"),
        _start(backend, "1.0", "older"),
        _start(backend, None, "plain"),
    )
    with durably.Worker(_app("1.0"), store=backend, version_match="strict") as worker:
        client = worker.client()
        assert client.wait_for_completion(older, timeout=30).output["run_by"] == "1.0"
        assert client.wait_for_completion(plain, timeout=30).output["run_by"] == "1.0"
        time.sleep(0.5)  # several polls
        assert _status(backend, newer) == "Pending"
    assert _finish(backend, "2.0", newer, version_match="strict") == {
        "started_by": "2.0",
        "run_by": "2.0",
    }


def test_current_or_older_takes_older_versions_only(backend: Backend) -> None:
    older, newer = _start(backend, "1.9", "older"), _start(backend, "1.10", "newer")
    with durably.Worker(_app("1.9"), store=backend, version_match="current_or_older"):
        client = durably.Client(backend)
        assert client.wait_for_completion(older, timeout=30).output["run_by"] == "1.9"
        time.sleep(0.5)
        assert _status(backend, newer) == "Pending"  # 1.10 is newer than 1.9
    output = _finish(backend, "1.10", newer, version_match="current_or_older")
    assert output == {"started_by": "1.10", "run_by": "1.10"}


def test_version_failure_fail_fails_the_others(backend: Backend) -> None:
    newer = _start(backend, "2.0", "newer")
    with durably.Worker(
        _app("1.0"), store=backend, version_match="strict", version_failure="fail"
    ) as worker:
        status = worker.client().wait_for_completion(newer, timeout=30)
    assert status.runtime_status == "Failed"
    assert str(status.output).startswith("VersionMismatchError: instance 'newer' is of version")


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="needs an app version"):
        durably.Worker(_app(None), store=MemoryBackend(), version_match="strict")
    with pytest.raises(ValueError, match="version_match must be"):
        durably.Worker(_app("1"), store=MemoryBackend(), version_match="newest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="version_failure must be"):
        durably.Worker(_app("1"), store=MemoryBackend(), version_failure="drop")  # type: ignore[arg-type]


@pytest.mark.slow
def test_two_worker_processes_of_different_versions_share_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    ids: dict[str, list[str]] = {}
    for version in ("1.0", "2.0"):
        with durably.Client(url, app=_app(version)) as client:
            ids[version] = [client.start_new("job", f"{version}-{n}") for n in range(10)]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    logs = {version: tmp_path / f"worker-{version}.log" for version in ids}
    files = [logs[version].open("w") for version in ids]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "durably.cli", "worker", "tests.worker.versioned_app:app",
             "--store", url, "--version-match", "strict"],
            env={**env, "DURABLY_TEST_APP_VERSION": version},
            stdout=subprocess.DEVNULL,
            stderr=file,
        )
        for version, file in zip(ids, files, strict=True)
    ]  # fmt: skip
    try:
        with durably.Client(url) as client:
            for version, instance_ids in ids.items():
                for instance_id in instance_ids:
                    output = client.wait_for_completion(instance_id, timeout=60).output
                    assert output == {"started_by": version, "run_by": version}
    finally:
        for process in workers:
            process.terminate()
        for process, file in zip(workers, files, strict=True):
            process.wait(30)
            file.close()
    for process, log in zip(workers, logs.values(), strict=True):
        assert process.returncode == 0, log.read_text()


def test_versions_compare_part_by_part() -> None:
    from durably.versions import InstanceFilter, version_key

    assert version_key("1.10") > version_key("1.9") > version_key("1.0")
    assert version_key("1.00") == version_key("1.0") == version_key("1-0")
    assert version_key("V1.0") == version_key("v1.0")
    assert _admits(InstanceFilter(version="1.0", strict=True), "1.00")  # as the store does
    assert not _admits(InstanceFilter(version="1.0", strict=True), "1.1")
    assert _admits(InstanceFilter(version="2.0"), "1.99")
    assert not _admits(InstanceFilter(version="2.0"), "2.0.1")


def _admits(only: Any, version: str) -> bool:
    from durably.backends.base import InstanceRecord

    record = InstanceRecord(
        instance_id="i",
        name="job",
        execution_id="e",
        runtime_status=durably.OrchestrationRuntimeStatus.Pending,
        created_time=dt.datetime.now(dt.UTC),
        last_updated_time=dt.datetime.now(dt.UTC),
        version=version,
    )
    return bool(only.admits(record))
