"""Every example app runs to completion on a fresh SQLite file with the right output."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

EXPECTED: dict[str, Any] = {
    "function_chaining": ["Hello Tokyo!", "Hello Seattle!", "Hello London!"],
    "fan_out_fan_in": {
        "files": 20,
        "total_bytes": sum(len(f"/data/file{i}.txt") * 100 for i in range(20)),
    },
    "async_http_api": [f"page-{i}.pdf" for i in range(1, 6)],
    "fastapi_progress": [f"page-{i}.pdf" for i in range(1, 5)],
    "monitor": {"job": "nightly-build", "state": "done", "polls": 3},
    "human_interaction": ["approved by ana", "escalated 999 to the manager"],
    "eternal": "stopped after 5 rounds",
    "sub_orchestrations": {
        d: [f"{d} register: ok", f"{d} configure: ok", f"{d} activate: ok"]
        for d in ("a1", "b2", "c3")
    },
    "entities_bank": {
        "visits": 10,
        "transfers": ["ana paid bob 30", "bob cannot pay 80", "bob paid ana 5"],
        "balances": {"ana": 75, "bob": 45},
    },
    "retries_and_errors": {
        "charged": "order-42 charged after 3 attempts",
        "shipping_error": "RuntimeError: no courier available for order-42",
        "compensation": "order-42 refunded",
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_to_the_expected_output(name: str, tmp_path: Path) -> None:
    module = importlib.import_module(f"examples.{name}")
    assert module.main(store=f"sqlite:///{tmp_path / 'examples.db'}") == EXPECTED[name]
