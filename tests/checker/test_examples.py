"""durably's own examples pass the checker, and `make lint` checks every one of them."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import durably
from durably.checker import check

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_is_clean(name: str) -> None:
    app = importlib.import_module(f"examples.{name}").app
    assert isinstance(app, durably.App)
    report = check(app)
    assert report.findings == () and report.notes == ()
    assert report.orchestrators == len(app.orchestrators)


def test_make_lint_checks_every_example() -> None:
    makefile = (ROOT / "Makefile").read_text()
    checked = set(re.findall(r"examples\.(\w+):app", makefile))
    assert checked == set(EXAMPLES)
