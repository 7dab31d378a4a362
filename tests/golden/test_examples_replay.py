"""The committed histories of durably's examples replay against the examples' current code.

``tests/golden/histories/<example>[.<case>].json`` were exported from real runs by
``python -m tests.golden.record`` (with ``durably history ID --json``). A change to an
example's orchestrator that instances already running could not survive fails here, as
it would in a user's CI: this is the workflow docs/testing.md ("Replay checks") shows.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import durably
import durably.testing

from .record import HISTORIES, RECIPES

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(HISTORIES.glob("*.json"))
Context = durably.OrchestrationContext


def example_of(path: Path) -> ModuleType:
    return importlib.import_module(f"examples.{path.stem.split('.')[0]}")


def variant(name: str, orchestrator: Any) -> durably.App:
    """An app whose orchestrator ``name`` is a modified copy (activities need not exist)."""
    app = durably.App()
    app.orchestrator(name=name)(orchestrator)
    return app


def chaining_history() -> Path:
    return HISTORIES / "function_chaining.json"


def durably_command(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durably.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_history_replays_against_the_example(path: Path) -> None:
    report = durably.testing.replay(example_of(path).app, path)
    assert report.matches_history, report
    assert report.events_replayed == len(json.loads(path.read_text()))


def test_every_example_has_golden_histories() -> None:
    examples = {p.stem for p in (ROOT / "examples").glob("*.py")} - {"__init__"}
    assert set(RECIPES) == examples
    assert {p.stem.split(".")[0] for p in FILES} == examples


def test_goldens_cover_a_running_instance_and_a_sub_orchestration() -> None:
    statuses = {p.stem: durably.testing.replay(example_of(p).app, p).runtime_status for p in FILES}
    assert statuses["human_interaction.waiting"] is durably.OrchestrationRuntimeStatus.Running
    child = json.loads((HISTORIES / "sub_orchestrations.device-a1.json").read_text())[1]
    assert (child["Name"], child["ParentInstanceId"]) == ("set_up_device", "fleet")


def test_the_cli_replays_the_goldens_of_an_example() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in HISTORIES.glob("human_interaction.*.json"))
    result = durably_command("replay", "examples.human_interaction:app", *files)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == files
    assert all(": ok (approval_workflow, " in line for line in lines), lines


def test_the_cli_exits_1_naming_the_divergence() -> None:
    history = str(chaining_history().relative_to(ROOT))
    result = durably_command("replay", "examples.fan_out_fan_in:app", history, "--name", "backup")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{history}: orchestrator 'backup' does not replay")
    assert "history recorded TaskScheduled of activity 'say_hello' (task 0)" in result.stdout
    assert "asked for activity 'list_files' (task 0)" in result.stdout


# -- modified copies of the examples' orchestrators --------------------------------------
def chaining_with_a_step_in_the_middle(context: Context) -> Generator[Any, Any, Any]:
    result1 = yield context.call_activity("say_hello", "Tokyo")
    yield context.call_activity("log_progress", result1)
    result2 = yield context.call_activity("say_hello", "Seattle")
    result3 = yield context.call_activity("say_hello", "London")
    return [result1, result2, result3]


def chaining_renamed(context: Context) -> Generator[Any, Any, Any]:
    result1 = yield context.call_activity("say_hello", "Tokyo")
    result2 = yield context.call_activity("greet", "Seattle")
    result3 = yield context.call_activity("say_hello", "London")
    return [result1, result2, result3]


def chaining_with_an_audit_at_the_end(context: Context) -> Generator[Any, Any, Any]:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("say_hello", city)))
    yield context.call_activity("audit", results)
    return results


def chaining_with_a_fire_and_forget_audit(context: Context) -> Generator[Any, Any, Any]:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("say_hello", city)))
    context.call_activity("audit", results)
    return results


def chaining_in_reverse_order_of_output(context: Context) -> Generator[Any, Any, Any]:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("say_hello", city)))
    return results[::-1]


def chaining_stopping_early(context: Context) -> Generator[Any, Any, Any]:
    result1 = yield context.call_activity("say_hello", "Tokyo")
    return [result1]


def test_an_extra_activity_in_the_middle_is_named_where_history_differs() -> None:
    app = variant("hello_sequence", chaining_with_a_step_in_the_middle)
    with pytest.raises(durably.NonDeterministicOrchestrationError) as caught:
        durably.testing.replay(app, chaining_history())
    assert str(caught.value) == (
        "orchestrator 'hello_sequence' does not replay the history of instance 'chain': "
        "history position 6: history recorded TaskScheduled of activity 'say_hello' (task 1), "
        "but on replay the orchestrator asked for activity 'log_progress' (task 1)"
    )


def test_a_renamed_activity_is_a_divergence() -> None:
    with pytest.raises(durably.NonDeterministicOrchestrationError, match="'greet' \\(task 1\\)"):
        durably.testing.replay(variant("hello_sequence", chaining_renamed), chaining_history())


@pytest.mark.parametrize(
    "orchestrator", [chaining_with_an_audit_at_the_end, chaining_with_a_fire_and_forget_audit]
)
def test_new_work_after_the_recorded_completion_is_a_divergence(orchestrator: Any) -> None:
    with pytest.raises(durably.NonDeterministicOrchestrationError) as caught:
        durably.testing.replay(variant("hello_sequence", orchestrator), chaining_history())
    message = str(caught.value)
    assert "history position 14: on replay the orchestrator schedules activity 'audit'" in message
    assert "(task 3), which history does not record in the episode at positions 12-14" in message
    assert message.endswith(
        "history records the orchestration Completed there: new work after its end"
    )


def test_another_output_is_a_divergence() -> None:
    app = variant("hello_sequence", chaining_in_reverse_order_of_output)
    with pytest.raises(durably.NonDeterministicOrchestrationError) as caught:
        durably.testing.replay(app, chaining_history())
    assert str(caught.value).endswith(
        "history position 15: history records the orchestration Completed with output "
        '["Hello Tokyo!","Hello Seattle!","Hello London!"], but on replay it is Completed '
        'with output ["Hello London!","Hello Seattle!","Hello Tokyo!"]'
    )


def test_stopping_earlier_is_a_divergence() -> None:
    with pytest.raises(durably.NonDeterministicOrchestrationError) as caught:
        durably.testing.replay(
            variant("hello_sequence", chaining_stopping_early), chaining_history()
        )
    assert str(caught.value).endswith(
        "history position 6: history recorded TaskScheduled of activity 'say_hello' (task 1), "
        "but on replay the orchestrator did not schedule task 1: it had already ended, "
        'Completed with output ["Hello Tokyo!"]'
    )


def test_the_recorder_writes_histories_that_replay(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.golden.record", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = sorted(tmp_path.glob("*.json"))
    assert [p.name for p in fresh] == [p.name for p in FILES]
    for path in fresh:
        assert durably.testing.replay(example_of(path).app, path).matches_history, path
