"""DUR003: reading (or writing) the environment."""

from __future__ import annotations

import os
import sys
from os import environ, getenv
from typing import Any

import durably

flagged = durably.App()
clean = durably.App()


@flagged.orchestrator
def reads_the_environment(context: durably.OrchestrationContext) -> Any:
    region = os.environ["REGION"]  # expect: DUR003
    debug = os.environ.get("DEBUG")  # expect: DUR003
    home = environ.get("HOME", "")  # expect: DUR003
    user = getenv("USER")  # expect: DUR003
    os.environ["SEEN"] = "1"  # expect: DUR003
    where = os.getcwd()  # expect: DUR003
    args = sys.argv[1:]  # expect: DUR003
    return (yield context.call_activity("use", [region, debug, home, user, where, args]))


@clean.orchestrator
def takes_settings_from_the_input(context: durably.OrchestrationContext) -> Any:
    settings = context.get_input()
    environ = {"REGION": settings["region"]}  # a local dict named like the module's
    path = os.path.join(settings["root"], "out.txt")  # string work, no I/O
    separator = os.sep
    return (yield context.call_activity(read_setting, [environ["REGION"], path, separator]))


@clean.activity
def read_setting(values: list[str]) -> str:
    return os.environ.get("REGION", values[0])
