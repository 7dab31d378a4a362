"""Property C: real Workers whose store fails writes and loses leases at drawn points
(:mod:`tests.property.faulty_store`) run a random program to the same end and the same
histories as an undisturbed worker: no step lost, none recorded twice. One worker, or
two sharing the store, each with its own generator cache: what one lost, the other may
pick up."""

from __future__ import annotations

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from durably.backends.memory import MemoryBackend
from tests.property.faulty_store import FAULTS, FaultyStore
from tests.property.profile import examples, timeout
from tests.property.programs import Program, programs, reference
from tests.property.worker_runs import expected_outcome, run_on_worker

plans = st.dictionaries(st.integers(0, 9), st.sampled_from(FAULTS), min_size=1, max_size=4)


# A failing example may hang a run for its 10 s limit, and shrinking runs it again and again.
@pytest.mark.timeout(timeout(300))
@settings(max_examples=examples(40))
@given(
    program=programs(),
    plan=plans,
    cache_size=st.sampled_from([4096, 0, 1]),
    direct=st.booleans(),
    workers=st.integers(1, 2),
)
def test_abandoned_leases_lose_and_repeat_no_step(
    program: Program, plan: dict[int, str], cache_size: int, direct: bool, workers: int
) -> None:
    expected = reference(program)
    undisturbed = run_on_worker(
        program, expected.events, MemoryBackend(), cache_size=cache_size, direct_episodes=direct
    )
    store = FaultyStore(plan)
    disturbed = run_on_worker(
        program,
        expected.events,
        store,
        cache_size=cache_size,
        direct_episodes=direct,
        lease_seconds=0.25,  # work whose lease was lost with no one told comes back soon
        workers=workers,
    )
    note(f"faults injected: {store.injected}")
    event("faults injected", len(store.injected))
    assert undisturbed.outcome() == expected_outcome(expected)
    assert disturbed.outcome() == expected_outcome(expected)
    assert disturbed.histories == undisturbed.histories
