"""Property A: on the pure engine, random programs run episode by episode in a random
world give, at every episode, the same result from the cached executor and from a fresh
full replay (``Run`` checks it), end as the reference evaluation says, and leave a
history that replays to the same end. Programs here also record the orchestration's time
and ``new_uuid()``, which a replay must give back as they were."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durably.testing.replay import replay_history
from tests.property.profile import examples, timeout
from tests.property.programs import (
    Program,
    program_orchestrator,
    programs,
    reference,
    start_input,
    without_clock,
)
from tests.property.world import World, simulate


@pytest.mark.timeout(timeout(90))
@settings(max_examples=examples(200))
@given(program=programs(clock=True), rng=st.randoms(use_true_random=False))
def test_cached_and_replayed_executors_agree_and_match_the_reference(
    program: Program, rng: random.Random
) -> None:
    expected = reference(program)
    run, last = simulate(World(rng, expected.events), start_input(program))
    assert last.runtime_status == expected.status
    output = json.loads(last.output or "null")
    if expected.status == "Failed":
        output = output.partition("\n")[0]
    assert without_clock(output) == expected.output
    assert json.loads(last.custom_status or "null") == expected.custom_status
    report = replay_history(program_orchestrator, run.history)
    assert report.is_replay_safe, report
    assert report.runtime_status == last.runtime_status
