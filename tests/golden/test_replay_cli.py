"""`durably replay MODULE:APP FILE...`: one line per file and the exit code, run as a shell
runs it (a subprocess in a directory holding the app module and the history files)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAINING = ROOT / "tests" / "golden" / "histories" / "function_chaining.json"

SHOP = """
import durably

app = durably.App()


@app.orchestrator
def hello_sequence(context):
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("say_hello", city)))
    return results
"""
SHOP_CHANGED = SHOP.replace('("Tokyo", "Seattle", "London")', '("Tokyo", "Paris", "London")')
SHOP_RENAMED = SHOP.replace('"say_hello"', '"greet"')


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "shop.py").write_text(SHOP)
    (tmp_path / "renamed_shop.py").write_text(SHOP_RENAMED)
    (tmp_path / "broken_shop.py").write_text("raise RuntimeError('no config')\n")
    shutil.copy(CHAINING, tmp_path / "chain.json")
    (tmp_path / "notes.txt").write_text("not json\n")
    (tmp_path / "object.json").write_text('{"name": "x"}\n')
    return tmp_path


def durably_replay(
    cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durably.cli", "replay", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if k != "DURABLY_STORE"},
            "PYTHONPATH": str(ROOT / "src"),
        },
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def test_a_clean_file_prints_ok_and_exits_0(workdir: Path) -> None:
    result = durably_replay(workdir, "shop:app", "chain.json")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "chain.json: ok (hello_sequence, 16 events, Completed)\n"


def test_a_divergence_prints_it_and_exits_1(workdir: Path) -> None:
    result = durably_replay(workdir, "renamed_shop:app", "chain.json", "chain.json")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0] == (
        "chain.json: orchestrator 'hello_sequence' does not replay the history of instance "
        "'chain': history position 2: history recorded TaskScheduled of activity 'say_hello' "
        "(task 0), but on replay the orchestrator asked for activity 'greet' (task 0)"
    )


def test_a_changed_input_alone_is_not_a_divergence(workdir: Path) -> None:
    (workdir / "shop.py").write_text(SHOP_CHANGED)
    result = durably_replay(workdir, "shop:app", "chain.json")
    assert result.returncode == 0, result.stdout  # the worker would replay it too


def test_dash_reads_the_history_from_stdin(workdir: Path) -> None:
    result = durably_replay(workdir, "shop:app", "-", stdin=CHAINING.read_text())
    assert (result.returncode, result.stdout) == (
        0,
        "-: ok (hello_sequence, 16 events, Completed)\n",
    )


def test_name_replays_with_another_orchestrator(workdir: Path) -> None:
    (workdir / "shop.py").write_text(SHOP.replace("def hello_sequence", "def hello_v2"))
    refused = durably_replay(workdir, "shop:app", "chain.json")
    assert refused.returncode == 2
    assert refused.stderr == (
        "Error: chain.json: no orchestrator named 'hello_sequence'; known orchestrators: hello_v2\n"
    )
    assert durably_replay(workdir, "shop:app", "chain.json", "--name", "hello_v2").returncode == 0


@pytest.mark.parametrize(
    ("file", "error"),
    [
        ("missing.json", "Error: missing.json: cannot read it: No such file or directory"),
        ("notes.txt", "Error: notes.txt: not JSON: Expecting value: line 1 column 1 (char 0)"),
        ("object.json", "Error: object.json: not a history: a JSON object without a historyEvents"),
    ],
)
def test_a_file_that_cannot_be_checked_is_a_usage_error(
    workdir: Path, file: str, error: str
) -> None:
    result = durably_replay(workdir, "shop:app", "chain.json", file)
    assert result.returncode == 2
    assert result.stdout.startswith("chain.json: ok")  # the other files are still checked
    assert result.stderr.startswith(error), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("nowhere:app", "Error: cannot import 'nowhere': No module named 'nowhere'"),
        ("shop:application", "Error: shop:application must be a durably.App, found nothing"),
        ("broken_shop:app", "Error: cannot import 'broken_shop:app': RuntimeError: no config"),
    ],
)
def test_an_app_that_cannot_be_loaded_is_a_usage_error(
    workdir: Path, target: str, error: str
) -> None:
    result = durably_replay(workdir, target, "chain.json")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == error
    assert_no_traceback(result)


def test_with_a_store_an_instance_id_replays_its_history(workdir: Path) -> None:
    import durably
    from examples.function_chaining import app as chaining  # what chain.json was made with

    store = f"sqlite:///{workdir / 'shop.db'}"
    with durably.Worker(chaining, store=store, poll_interval=0.02) as worker:
        client = worker.client()
        client.wait_for_completion(client.start_new("hello_sequence", "stored-1"), timeout=30)

    result = durably_replay(workdir, "shop:app", "stored-1", "chain.json", "--store", store)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stored-1: ok (hello_sequence, ")
    diverges = durably_replay(workdir, "renamed_shop:app", "stored-1", "--store", store)
    assert diverges.returncode == 1 and "history position 2" in diverges.stdout
    unknown = durably_replay(workdir, "shop:app", "nobody", "--store", store)
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "Error: nobody: no such file, and no instance of that id in the store\n"
    )
    without = durably_replay(workdir, "shop:app", "stored-1")  # no store: files only
    assert without.returncode == 2 and "cannot read it" in without.stderr
    assert "pass --store URL" in without.stderr
