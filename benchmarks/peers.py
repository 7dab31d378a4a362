"""The peer's own virtual environment: ``benchmarks/.peers-venv`` with ``dbos==3.4.0``.

Created on demand with the standard ``venv`` module and pip; a stamp file holding the
requirements makes it reinstall only when ``peers-requirements.txt`` changes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peers-venv"
REQUIREMENTS = HERE / "peers-requirements.txt"
STAMP = VENV / ".installed"


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(say: Callable[[str], None] = print) -> Path:
    """The peers' interpreter, creating or updating the environment if needed."""
    wanted = REQUIREMENTS.read_text()
    if python().exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python()
    say(f"creating the peers' virtual environment in {VENV} (pip install -r {REQUIREMENTS.name})")
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    STAMP.write_text(wanted)
    return python()


def dbos_version(interpreter: Path) -> str:
    out = subprocess.run(
        [str(interpreter), "-c", "from importlib.metadata import version; print(version('dbos'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
