"""DUR002: random numbers, secrets and random UUIDs."""

from __future__ import annotations

import os
import random
import secrets
import uuid
from random import choice
from typing import Any

import durably

flagged = durably.App()
clean = durably.App()


@flagged.orchestrator
def draws(context: durably.OrchestrationContext) -> Any:
    pick = random.randint(1, 6)  # expect: DUR002
    other = choice(["a", "b"])  # expect: DUR002
    token = secrets.token_hex(8)  # expect: DUR002
    ident = uuid.uuid4()  # expect: DUR002
    node = uuid.uuid1()  # expect: DUR002
    noise = os.urandom(4)  # expect: DUR002
    unseeded = random.Random()  # expect: DUR002
    yield context.call_activity("use", [pick, other, token, str(ident), str(node)])
    return [noise.hex(), unseeded.random()]


@clean.orchestrator
def derives(context: durably.OrchestrationContext) -> Any:
    ident = context.new_uuid()
    named = uuid.uuid5(uuid.NAMESPACE_URL, context.instance_id)
    seeded = random.Random(ident)  # a seed from history replays the same draws
    return [ident, str(named), seeded.random()]


@clean.orchestrator
def shadows_the_module(context: durably.OrchestrationContext) -> Any:
    random = yield context.call_activity(draw, None)  # a local, not the module
    return random.hex() if isinstance(random, float) else random


@clean.activity
def draw(_: None) -> float:
    return random.random()
