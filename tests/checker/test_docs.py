"""The examples of docs/determinism.md and of `check` in docs/cli.md print what they show."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from durably.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory on the import path, as for a user running `durably check`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("shop", "shop_fixed"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def test_the_determinism_guide_prints_what_it_shows(user_dir: Path) -> None:
    text = (DOCS / "determinism.md").read_text()
    shop, fixed = _blocks(text, "python")[:2]
    (user_dir / "shop.py").write_text(shop)
    shown = _blocks(text, "text")[0].splitlines()
    assert shown[0] == "$ durably check shop:app"
    result = CliRunner().invoke(main, ["check", "shop:app"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == shown[1:]

    (user_dir / "shop_fixed.py").write_text(shop[: shop.index("@app.orchestrator")] + fixed)
    result = CliRunner().invoke(main, ["check", "shop_fixed:app"])
    assert result.exit_code == 0, result.output


def test_the_cli_guide_checks_its_session_app(user_dir: Path) -> None:
    text = (DOCS / "cli.md").read_text()
    session = text[text.index("## A session") : text.index("## Commands")]
    (user_dir / "shop.py").write_text(_blocks(session, "python")[0])
    section = text[text.index("### `durably check") :]
    shown = _blocks(section, "text")[0].splitlines()
    assert shown[0] == "$ durably check shop:app"
    result = CliRunner().invoke(main, ["check", "shop:app"])
    assert (result.exit_code, result.stdout) == (0, shown[1] + "\n")
