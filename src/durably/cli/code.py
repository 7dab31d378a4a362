"""Commands that load the user's code (``MODULE:APP``): the app itself, ``replay``
(exported histories against the current code) and ``check`` (the determinism checker)."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import click

from durably.app import App
from durably.cli.options import BadUsage
from durably.errors import NonDeterministicOrchestrationError


def load_app(target: str) -> App:
    """Import ``MODULE[:ATTRIBUTE]`` (attribute ``app`` by default) and return the App;
    ``BadUsage`` naming the problem when that fails, the module's own exception on
    import included (one line, not a traceback)."""
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise BadUsage(f"expected MODULE:APP, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadUsage(f"cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # the module raised on import
        raise BadUsage(f"cannot import {target!r}: {type(exc).__name__}: {exc}") from None
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, App):
        found = type(app).__name__ if app is not None else "nothing"
        raise BadUsage(f"{module_name}:{attribute or 'app'} must be a durably.App, found {found}")
    return app


@click.command()
@click.argument("target", metavar="MODULE:APP")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--name", default=None, help="Orchestrator to replay with (default: the history's).")
def replay(target: str, files: tuple[str, ...], name: str | None) -> None:
    """Replay exported histories against the app's current orchestrator code.

    Each FILE is the JSON that `durably history ID --json` writes (`-` reads stdin). One
    line per file: `ok`, or the first history position where the code parts from the
    history. Exit codes: 0 every file replays, 1 one diverges, 2 one cannot be checked
    (unreadable, not a history, an orchestrator the app lacks).
    """
    app = load_app(target)
    worst = 0
    for file in files:
        code, line = _replay_file(app, file, name)
        click.echo(f"Error: {line}" if code == 2 else line, err=code == 2)
        worst = max(worst, code)
    sys.exit(worst)


def _replay_file(app: App, file: str, name: str | None) -> tuple[int, str]:
    """(exit code, line) for one history file: 0 ok, 1 divergence, 2 not checkable."""
    from durably.testing.replay import replay as check_replay

    try:
        source = sys.stdin.read() if file == "-" else Path(file)
        report = check_replay(app, source, name=name)
    except NonDeterministicOrchestrationError as exc:
        return 1, f"{file}: {exc}"
    except OSError as exc:
        return 2, f"{file}: cannot read it: {exc.strerror or exc}"
    except json.JSONDecodeError as exc:
        return 2, f"{file}: not JSON: {exc}"
    except UnicodeDecodeError:
        return 2, f"{file}: not JSON: not UTF-8 text"
    except ValueError as exc:
        return 2, f"{file}: {exc}"
    except Exception as exc:  # a history the engine cannot apply: one line per file
        return 2, f"{file}: cannot replay it: {type(exc).__name__}: {exc}"
    summary = f"{report.name}, {report.events_replayed} events, {report.runtime_status}"
    return 0, f"{file}: ok ({summary})"


@click.command(name="check")
@click.argument("targets", nargs=-1, required=True, metavar="MODULE:APP...")
def check_(targets: tuple[str, ...]) -> None:
    """Check orchestrator code for what breaks replay (docs/determinism.md).

    Reads every orchestrator of each app and the functions of your code they call, and
    prints one line per finding, `path:line:col: DUR### message`, then a summary. Exit
    codes: 0 clean, 1 findings, 2 usage (an app that cannot be imported). Needs no store.

    \b
    A comment at the end of a line silences it:
      # durably: ignore[DUR001,DUR004]   (or all codes: # durably: ignore)
    """
    from durably.checker import check

    apps = [load_app(target) for target in targets]
    reports = [check(app) for app in apps]
    findings = sorted({finding for report in reports for finding in report.findings})
    for report in reports:
        for note in report.notes:
            click.echo(str(note), err=True)
    for finding in findings:
        click.echo(str(finding))
    orchestrators = sum(report.orchestrators for report in reports)
    helpers = sum(report.helpers for report in reports)
    checked = f"{_count(orchestrators, 'orchestrator')} and {_count(helpers, 'helper')} checked"
    if not findings:
        click.echo(f"All clean: {checked}.")
        return
    files = len({finding.path for finding in findings})
    click.echo(f"Found {_count(len(findings), 'problem')} in {_count(files, 'file')}; {checked}.")
    sys.exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
