"""Test helpers shipped with durably: the backend contract suite (more to come)."""

from durably.checker import Finding, check_determinism
from durably.testing.harness import Call, Harness
from durably.testing.replay import ReplayReport, load_history, replay, replay_history

__all__ = [
    "Call",
    "Finding",
    "Harness",
    "ReplayReport",
    "check_determinism",
    "load_history",
    "replay",
    "replay_history",
]
