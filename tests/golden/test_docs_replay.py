"""The "Replay checks" workflow of docs/testing.md runs as written, with the `shop` app of
docs/cli.md: export histories, replay them from a shell and from pytest, then change the
code and read the divergence the guide (and docs/cli.md) shows."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import durably

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of ``language`` ("" for a bare fence), in order."""
    found: list[str] = []
    body: list[str] | None = None
    fence = ""
    for line in text.splitlines(keepends=True):
        if body is None and line.startswith("```"):
            body, fence = [], line[3:].strip()
        elif body is not None and line.startswith("```"):
            if fence == language:
                found.append("".join(body))
            body = None
        elif body is not None:
            body.append(line)
    return found


def _guide() -> str:
    text = (DOCS / "testing.md").read_text()
    return text[text.index("## Replay checks") :]


def _shop_source() -> str:
    text = (DOCS / "cli.md").read_text()
    return _blocks(text[text.index("## A session") : text.index("## Commands")], "python")[0]


def _run_instances(workdir: Path, store: str) -> None:
    """order-8 approved and finished, order-7 waiting for its approval."""
    spec = importlib.util.spec_from_file_location("replay_guide_shop", workdir / "shop.py")
    assert spec is not None and spec.loader is not None
    shop = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shop)
    with durably.Worker(shop.app, store=store, poll_interval=0.01) as worker:
        client = worker.client()
        for order in ("order-7", "order-8"):
            client.start_new("checkout", order, order)
        client.raise_event("order-8", "Approved", "ana")
        client.wait_for_completion("order-8", timeout=30)
        deadline = time.monotonic() + 30
        while len(client.get_history("order-7")) < 3:  # its first episode is committed
            assert time.monotonic() < deadline
            time.sleep(0.01)


def _shell(line: str, workdir: Path, store: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        line,
        shell=True,
        cwd=workdir,
        env={**os.environ, "PATH": path, "DURABLY_STORE": store},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_replay_guide_runs_as_written(tmp_path: Path) -> None:
    guide = _guide()
    export, check = _blocks(guide, "sh")[:2]
    shown = _blocks(guide, "")[0].splitlines()
    (tmp_path / "shop.py").write_text(_shop_source())
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    _run_instances(tmp_path, store)
    for line in export.splitlines():
        if not line.startswith("git "):
            assert _shell(line, tmp_path, store).returncode == 0, line

    clean = _shell(check.strip(), tmp_path, store)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines() == [
        "tests/histories/order-7.json: ok (checkout, 3 events, Running)",
        "tests/histories/order-8.json: ok (checkout, 11 events, Completed)",
    ]
    test_file = _blocks(guide, "python")[0]
    (tmp_path / "tests" / "test_histories.py").write_text(test_file)
    tests = _shell(f"{sys.executable} -m pytest -q -p no:cacheprovider tests", tmp_path, store)
    assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout

    shop = tmp_path / "shop.py"
    shop.write_text(shop.read_text().replace("charge", "bill"))
    diverged = _shell(check.strip(), tmp_path, store)
    assert diverged.returncode == 1, diverged.stderr
    assert diverged.stdout.splitlines() == shown
    cli_sample = _blocks((DOCS / "cli.md").read_text(), "sh")[-1].splitlines()
    assert cli_sample == [f"$ {check.strip()}", *shown]
