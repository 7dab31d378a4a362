"""What a worker reports for metrics: a process-wide observer, none by default.

``Worker(metrics_port=...)`` (or ``durably serve``) installs one
(:class:`durably.metrics.PrometheusObserver`); without it every report is one
``is None`` check. Standard library only: the worker does not import a metrics library
unless asked to.
"""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    """Receives the worker's reports."""

    def activity_done(self, name: str, status: str, seconds: float) -> None:
        """An activity attempt ended (``status``: Completed or Failed) after ``seconds``."""

    def episode_done(self, name: str, seconds: float) -> None:
        """An episode of orchestrator ``name`` ran for ``seconds`` (replay included)."""

    def orchestration_finished(self, name: str, status: str) -> None:
        """An execution of ``name`` ended with ``status`` (its commit landed)."""

    def entity_operation_done(self, name: str, status: str) -> None:
        """An operation on an entity ``name`` ran (``status``: Completed or Failed; its
        commit landed)."""


_observer: Observer | None = None


def install(observer: Observer | None) -> None:
    """Report to ``observer`` from now on (None: stop reporting)."""
    global _observer
    _observer = observer


def current() -> Observer | None:
    """The installed observer, if any."""
    return _observer
