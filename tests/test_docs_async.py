"""docs/async.md: its examples run as written and return what the page says."""

from __future__ import annotations

import inspect
import re
import runpy
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "async.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def _main(source: str, tmp_path: Path, name: str) -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    main = runpy.run_path(str(path))["main"]
    if "store" not in inspect.signature(main).parameters:
        return main()
    return main(store=f"sqlite:///{tmp_path / (name + '.db')}")


def test_the_async_orchestrator_example(tmp_path: Path) -> None:
    assert _main(_examples()[0], tmp_path, "checkout") == {
        "receipt": "charged 30",
        "labels": ["shipped o-1", "shipped o-1"],
        "approved": True,
    }


def test_the_async_client_example(tmp_path: Path) -> None:
    assert _main(_examples()[1], tmp_path, "many") == [2 * n for n in range(10)]
