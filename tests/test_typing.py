"""durably ships its types (py.typed): mypy --strict passes on every example, and an
awaited call_activity on a function has that function's return type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_says_it_is_typed() -> None:
    assert (ROOT / "src" / "durably" / "py.typed").exists()


@pytest.mark.timeout(300)
def test_mypy_strict_passes_on_the_examples_and_sees_awaited_types() -> None:
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    checked = subprocess.run(
        [*mypy, "examples", "tests/typing_samples/awaited_types.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
