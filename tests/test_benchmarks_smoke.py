"""The benchmark runner's smallest path still works (it times nothing that is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_chain_on_the_memory_store(tmp_path: Path) -> None:
    runner = [sys.executable, "-m", "benchmarks.run", "--quick", "--store", "memory"]
    done = subprocess.run(
        [*runner, "--only", "chain,fanout-200", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [result] = tmp_path.glob("*-memory.json")
    doc = json.loads(result.read_text())
    assert doc["systems"] == ["durably"]
    for name in ("chain", "fanout-200"):
        durably = doc["workloads"][name]["durably"]
        assert durably["errors"] == []
        assert durably["summary"]["act_per_s"]["median"] > 0
    assert "| **chain** |" in (tmp_path / "latest.md").read_text()


def test_the_floor_measures_both_sides_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLY_TEST_POSTGRES"}
    floor = [sys.executable, "-m", "benchmarks.floor", "--samples", "3", "--steps", "5"]
    done = subprocess.run(
        [*floor, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [result] = tmp_path.glob("*-floor.json")
    sqlite = json.loads(result.read_text())["stores"]["sqlite"]
    for side in ("floor", "durably"):
        assert sqlite[side]["latency_p50_ms"] > 0 and sqlite[side]["step_ms"] > 0
    assert "| sqlite | one step (ms) |" in next(tmp_path.glob("*-floor.md")).read_text()


def test_the_ab_runner_compares_two_trees(tmp_path: Path) -> None:
    ab = [sys.executable, "-m", "benchmarks.ab", "--base-tree", str(ROOT), "--quick"]
    done = subprocess.run(
        [*ab, "--store", "memory", "--only", "chain", "--rounds", "2", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "ab.json").read_text())
    runs = doc["results"]["memory/chain"]
    assert [len(runs["base"]), len(runs["new"])] == [2, 2]
    assert all(r["cpu_s"] > 0 and r["figures"]["orch_per_s"] > 0 for r in runs["new"])
    assert "| memory/chain | orchestrations/s (orch/s) |" in (tmp_path / "ab.md").read_text()


def test_the_dashboard_benchmark_times_every_request(tmp_path: Path) -> None:
    dashboard = [sys.executable, "-m", "benchmarks.dashboard", "--rows", "2000", "--reps", "3"]
    done = subprocess.run(
        [*dashboard, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "dashboard-2000.md").read_text()
    for label in ("summary strip", "list: page 40 (by token)", "instance page data"):
        assert label in report


def test_the_entity_benchmark_runs_and_writes_its_table(tmp_path: Path) -> None:
    from benchmarks import entities

    assert entities.main(["--increments", "200", "--out", str(tmp_path)]) == 0
    assert "| 100 |" in (tmp_path / "entities.md").read_text()
