"""Commands that load the user's code (``MODULE:APP``): the app itself, ``replay``
(exported histories against the current code) and ``check`` (the determinism checker)."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from durably.app import App
from durably.backends import STORE_ENV
from durably.cli.options import BadUsage
from durably.client import Client
from durably.errors import InstanceNotFoundError, NonDeterministicOrchestrationError
from durably.history import HistoryEvent


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
@click.option(
    "--store",
    envvar=STORE_ENV,
    default=None,
    metavar="URL",
    help=f"Store whose instances to replay: a FILE that is no file is an instance id there"
    f" [default: ${STORE_ENV}; none: files only].",
)
def replay(target: str, files: tuple[str, ...], name: str | None, store: str | None) -> None:
    """Replay exported histories against the app's current orchestrator code.

    Each FILE is the JSON that `durably history ID --json` writes (`-` reads stdin), or,
    with a store, the id of an instance whose history is read from it. One line per
    file: `ok`, or the first history position where the code parts from the history.
    Exit codes: 0 every file replays, 1 one diverges, 2 one cannot be checked
    (unreadable, not a history, an orchestrator the app lacks).
    """
    app = load_app(target)
    histories = _StoreHistories(store)
    worst = 0
    try:
        for file in files:
            code, line = _replay_file(app, file, name, histories)
            click.echo(f"Error: {line}" if code == 2 else line, err=code == 2)
            worst = max(worst, code)
    finally:
        histories.close()
    sys.exit(worst)


_NOT_A_FILE = " (an instance id? pass --store URL to read its history from a store)"


class _StoreHistories:
    """The histories of a store's instances, for `replay` (the store opened at need)."""

    def __init__(self, store: str | None) -> None:
        self._store = store
        self._client: Client | None = None

    @property
    def reads_store(self) -> bool:
        return self._store is not None

    def wanted(self, file: str) -> bool:
        """Whether ``file`` names an instance of the store rather than a file."""
        return self._store is not None and file != "-" and not Path(file).exists()

    def get(self, instance_id: str) -> list[HistoryEvent]:
        if self._client is None:
            self._client = Client(self._store)
        try:
            return self._client.get_history(instance_id)
        except InstanceNotFoundError:
            raise ValueError("no such file, and no instance of that id in the store") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _replay_file(
    app: App, file: str, name: str | None, histories: _StoreHistories
) -> tuple[int, str]:
    """(exit code, line) for one history file: 0 ok, 1 divergence, 2 not checkable."""
    from durably.testing.replay import replay as check_replay

    try:
        source: Any
        if histories.wanted(file):
            source = histories.get(file)
        else:
            source = sys.stdin.read() if file == "-" else Path(file)
        report = check_replay(app, source, name=name)
    except NonDeterministicOrchestrationError as exc:
        return 1, f"{file}: {exc}"
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError) and not histories.reads_store
        hint = _NOT_A_FILE if missing else ""
        return 2, f"{file}: cannot read it: {exc.strerror or exc}{hint}"
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
@click.option(
    "--store",
    envvar=STORE_ENV,
    default=None,
    metavar="URL",
    help="Accepted as on every command; the check reads code only, never a store.",
)
def check_(targets: tuple[str, ...], store: str | None) -> None:
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
