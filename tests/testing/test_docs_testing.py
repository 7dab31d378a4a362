"""The guide "Testing your orchestrations" (docs/testing.md) runs as written: its python
blocks are the files their first line names, and the tests among them pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def _guide_files() -> dict[str, str]:
    text = GUIDE.read_text()
    section = text[text.index("## Testing your orchestrations") : text.index("## Property tests")]
    files: dict[str, list[str]] = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first_line = block.partition("\n")[0]
        name = re.fullmatch(r"# (\w+\.py)", first_line)
        assert name, f"each python block of the guide starts with its file name: {first_line!r}"
        files.setdefault(name[1], []).append(block)
    return {name: "\n\n".join(blocks) for name, blocks in files.items()}


def test_the_guide_runs_as_written(pytester: pytest.Pytester) -> None:
    files = _guide_files()
    assert sorted(files) == ["orders.py", "test_orders.py"]
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    result = pytester.runpytest("-p", "no:cacheprovider", "test_orders.py")
    result.assert_outcomes(passed=files["test_orders.py"].count("\ndef test_"))
