"""The engine is pure by construction: ruff bans the clock, randomness, threads and I/O in it.

The ban is ruff's banned-api rule (TID251), configured for ``src/durably/engine/`` only by
the nested ``src/durably/engine/ruff.toml``. These tests run ruff as ``make lint`` does,
so that the whole suite fails if the ban stops applying to engine modules. The probe is
passed on stdin under an engine path, so ruff picks the nested config as it would for a
real engine module and no file is written into the source tree.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "src" / "durably" / "engine"

ALLOWED = [
    "import datetime",
    "import logging",
    "import uuid",
    "datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=1)",
    "uuid.uuid5(uuid.NAMESPACE_URL, 'deterministic')",
    "logging.getLogger('durably')",
]
BANNED = [  # (a statement, the name ruff reports as banned)
    ("datetime.datetime.now()", "datetime.datetime.now"),
    ("datetime.datetime.utcnow()", "datetime.datetime.utcnow"),
    ("datetime.datetime.today()", "datetime.datetime.today"),
    ("datetime.date.today()", "datetime.date.today"),
    ("import time", "time"),
    ("from time import perf_counter", "time"),
    ("import random", "random"),
    ("import secrets", "secrets"),
    ("uuid.uuid1()", "uuid.uuid1"),
    ("uuid.uuid4()", "uuid.uuid4"),
    ("import threading", "threading"),
    ("from concurrent.futures import ThreadPoolExecutor", "concurrent"),
    ("import asyncio", "asyncio"),
    ("import multiprocessing", "multiprocessing"),
    ("import os", "os"),
    ("import socket", "socket"),
    ("import subprocess", "subprocess"),
    ("import io", "io"),
    ("import pathlib", "pathlib"),
    ("import shutil", "shutil"),
    ("import urllib.request", "urllib"),
    ("import http.client", "http"),
]


def _ruff() -> str:
    beside = Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.exists() else shutil.which("ruff")
    if found is None:
        pytest.fail("ruff (a dev dependency) is needed to check that the engine stays pure")
    return found


def _banned_names(source: str, filename: Path) -> dict[int, str]:
    """Line number -> banned name, for each TID251 ruff reports in ``source``."""
    command = [_ruff(), "check", "--no-cache", "--select", "TID251", "--output-format", "json"]
    completed = subprocess.run(
        [*command, "--stdin-filename", str(filename), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode in (0, 1), completed.stderr
    found = {}
    for diagnostic in json.loads(completed.stdout):
        assert diagnostic["code"] == "TID251"
        match = re.match(r"`([^`]+)` is banned", diagnostic["message"])
        assert match is not None, diagnostic["message"]
        found[diagnostic["location"]["row"]] = match.group(1)
    return found


def test_ruff_bans_the_clock_randomness_threads_and_io_in_engine_modules() -> None:
    source = "\n".join([*ALLOWED, *(statement for statement, _ in BANNED)]) + "\n"
    expected = {len(ALLOWED) + row: name for row, (_, name) in enumerate(BANNED, start=1)}
    assert _banned_names(source, ENGINE / "_purity_probe.py") == expected


def test_the_ban_is_scoped_to_the_engine() -> None:
    assert _banned_names("import random\n", ROOT / "src" / "durably" / "_purity_probe.py") == {}


def test_the_engine_uses_none_of_the_banned_apis() -> None:
    completed = subprocess.run(
        [_ruff(), "check", "--no-cache", "--select", "TID251", str(ENGINE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
