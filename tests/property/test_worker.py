"""Property B: a real Worker runs a random program to the same end and the same
histories with the generator cache on and off, and that end is the reference
evaluation's. The cache holds every instance or only one (evictions), and activity
results go straight to episodes or through the inbox (``direct_episodes``), as drawn.
The memory store runs many examples; a SQLite file, whose fast paths are its own SQL,
a few."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durably.backends import open_backend
from durably.backends.base import Backend
from durably.backends.memory import MemoryBackend
from tests.property.profile import examples, timeout
from tests.property.programs import Program, programs, reference
from tests.property.worker_runs import expected_outcome, run_on_worker

CACHE_SIZES = st.sampled_from([4096, 1])
"""The cache on: room for every instance, or for one (sub-orchestrations evict)."""


def check_cache_on_and_off(
    program: Program, cache_size: int, direct: bool, store: Callable[[], Backend]
) -> None:
    expected = reference(program)
    observed = []
    for size in (cache_size, 0):
        backend = store()
        try:
            observed.append(
                run_on_worker(
                    program,
                    expected.events,
                    backend,
                    cache_size=size,
                    direct_episodes=direct,
                )
            )
        finally:
            backend.close()
    cached, uncached = observed
    assert cached.outcome() == expected_outcome(expected)
    assert uncached.outcome() == expected_outcome(expected)
    assert cached.histories == uncached.histories


# A failing example may hang a run for its 10 s limit, and shrinking runs it again and again.
@pytest.mark.timeout(timeout(300))
@settings(max_examples=examples(50))
@given(program=programs(), cache_size=CACHE_SIZES, direct=st.booleans())
def test_the_cache_changes_no_outcome_and_no_history(
    program: Program, cache_size: int, direct: bool
) -> None:
    check_cache_on_and_off(program, cache_size, direct, MemoryBackend)


@pytest.mark.timeout(timeout(300))
@settings(max_examples=examples(10))
@given(program=programs(), cache_size=CACHE_SIZES, direct=st.booleans())
def test_the_cache_changes_nothing_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory, program: Program, cache_size: int, direct: bool
) -> None:
    def store() -> Backend:
        path = tmp_path_factory.mktemp("property") / "store.db"
        return open_backend(f"sqlite:///{path}?synchronous=NORMAL")

    check_cache_on_and_off(program, cache_size, direct, store)
