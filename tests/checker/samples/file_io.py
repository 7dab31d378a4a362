"""DUR004: reading and writing files."""

from __future__ import annotations

import json
import pathlib
import shutil
from pathlib import Path
from typing import Any

import durably

flagged = durably.App()
clean = durably.App()
DATA = Path("data")


@flagged.orchestrator
def touches_files(context: durably.OrchestrationContext) -> Any:
    with open("config.json") as handle:  # expect: DUR004
        config = json.load(handle)
    text = pathlib.Path("notes.txt").read_text()  # expect: DUR004
    report = Path("out") / "report.txt"
    report.write_text(text)  # expect: DUR004
    exists = (DATA / "x").exists()  # expect: DUR004
    listed = DATA.iterdir()  # expect: DUR004
    shutil.copy("a", "b")  # expect: DUR004
    answer = input("continue?")  # expect: DUR004
    return (yield context.call_activity("use", [config, exists, list(listed), answer]))


@clean.orchestrator
def names_files(context: durably.OrchestrationContext) -> Any:
    target = Path(context.get_input()) / "report.txt"  # building a path does no I/O
    name = target.name
    suffix = target.with_suffix(".csv").suffix
    data = json.loads('{"a": 1}')
    open = context.get_input  # a local named `open`
    return (yield context.call_activity(write_report, [str(target), name, suffix, data, open()]))


@clean.activity
def write_report(values: list[Any]) -> int:
    return Path(values[0]).write_text(json.dumps(values))
