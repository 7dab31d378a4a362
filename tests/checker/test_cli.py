"""`durably check MODULE:APP...`: findings on stdout, a summary, exit codes 0, 1 and 2."""

from __future__ import annotations

from click.testing import CliRunner, Result

from durably.cli import main

SAMPLES = "tests.checker.samples"


def _check(*targets: str) -> Result:
    return CliRunner().invoke(main, ["check", *targets])


def test_a_clean_app_exits_0_with_a_summary() -> None:
    result = _check(f"{SAMPLES}.wall_clock:clean", f"{SAMPLES}.sleeping:clean")
    assert result.exit_code == 0, result.output
    assert result.stdout == "All clean: 3 orchestrators and 0 helpers checked.\n"


def test_store_is_accepted_as_on_every_command_and_read_by_nobody() -> None:
    result = CliRunner().invoke(
        main, ["check", f"{SAMPLES}.wall_clock:clean", "--store", "postgresql://nowhere/x"]
    )
    assert result.exit_code == 0, result.output


def test_findings_exit_1_one_per_line_then_a_summary() -> None:
    result = _check(f"{SAMPLES}.helpers:app")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tests/checker/samples/helper_library.py:13:")
    assert " DUR002 `uuid.uuid4()` is random; use `context.new_uuid()`" in lines[0]
    assert lines[-1] == "Found 4 problems in 2 files; 2 orchestrators and 5 helpers checked."
    assert len(lines) == 5


def test_several_apps_are_checked_together() -> None:
    result = _check(f"{SAMPLES}.sleeping:flagged", f"{SAMPLES}.wall_clock:flagged")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].startswith("Found 13 problems in 2 files;")


def test_notes_go_to_stderr_and_do_not_fail_the_check() -> None:
    result = _check(f"{SAMPLES}.unusual:app")
    assert result.exit_code == 1  # the lambda and the partial read the clock
    assert "note: orchestrator 'generated': its source is not available" in result.stderr
    assert "note:" not in result.stdout


def test_usage_errors_exit_2_with_one_line() -> None:
    for target, message in [
        ("no_such_module:app", "cannot import 'no_such_module'"),
        (f"{SAMPLES}.wall_clock:missing", "must be a durably.App, found nothing"),
        (f"{SAMPLES}.raises_on_import:app", "RuntimeError: the settings file is missing"),
        (":app", "expected MODULE:APP"),
    ]:
        result = _check(target)
        assert result.exit_code == 2, (target, result.output)
        assert message in result.stderr
        assert "Traceback" not in result.output
    assert _check().exit_code == 2
