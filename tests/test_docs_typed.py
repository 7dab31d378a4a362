"""docs/typed-payloads.md: its examples run as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

import durably

DOC = Path(__file__).resolve().parents[1] / "docs" / "typed-payloads.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_typed_example_returns_what_the_page_says(tmp_path: Path) -> None:
    path = tmp_path / "typed_example.py"
    path.write_text(_examples()[0])
    main = runpy.run_path(str(path))["main"]
    assert main(store=f"sqlite:///{tmp_path / 'typed.db'}") == {
        "order": "12345678-1234-5678-1234-567812345678",
        "amount": "7.50",
        "vat": "1.500",
    }


def test_the_codec_examples_make_apps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    zlib_app = runpy.run_path(str(_write(tmp_path, "z.py", _examples()[1])))
    assert zlib_app["app"].codec.name == "zlib"
    monkeypatch.setenv("DURABLY_KEY", Fernet.generate_key().decode())
    fernet = runpy.run_path(str(_write(tmp_path, "f.py", _examples()[2])))
    app: durably.App = fernet["app"]
    codec = app.codec
    assert codec is not None and codec.decode(codec.encode(b"secret")) == b"secret"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
