"""durably's pytest plugin (entry point ``durably``): the ``durably_harness`` fixture.

pytest loads it by itself once durably is installed; nothing else in durably imports
pytest.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator

import pytest

from durably.app import App
from durably.testing.harness import Harness


@pytest.fixture
def durably_harness() -> Iterator[Callable[..., Harness]]:
    """A factory of harnesses: ``durably_harness(app, start=None, cache_size=0)`` gives a
    :class:`~durably.testing.Harness` on a fresh memory store; every harness it made is
    closed when the test ends."""
    made: list[Harness] = []

    def make(app: App, *, start: _dt.datetime | None = None, cache_size: int = 0) -> Harness:
        harness = Harness(app, start=start, cache_size=cache_size)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
