"""The API fuzzed by schemathesis against its own OpenAPI document, on a real server:
no request, however malformed, gets a 500 (a bounded run; seeded, so CI repeats it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.app import app
from tests.web.server import serving

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.timeout(300)
def test_no_request_gets_a_server_error(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'fuzz.db'}"  # a real store: its own refusals too
    with serving(app, store, token="fuzz-token") as url:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "20",
                "--seed",
                "20261204",
                "--generation-database",
                "none",
                "--header",
                "Authorization: Bearer fuzz-token",
                "--no-color",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=280,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Operations:       14 selected / 14 total" in run.stdout
