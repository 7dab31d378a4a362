"""Entities and orchestrations the entity tests run."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import durably
from durably import EntityContext, EntityId

app = durably.App()
COUNTER = EntityId("counter", "total")


@app.entity
def counter(ctx: EntityContext) -> None:
    value = ctx.get_state(lambda: 0)
    match ctx.operation_name:
        case "add":
            value += ctx.get_input()
        case "fail_after_change":
            ctx.set_state(-1)  # rolled back: the operation fails
            raise ValueError("this operation fails")
        case "reset":
            value = 0
        case "get":
            pass
        case "delete":
            ctx.destruct_on_exit()
            return
        case other:
            raise ValueError(f"unknown operation {other!r}")
    ctx.set_state(value)
    ctx.set_result(value)


@app.entity
def journal(ctx: EntityContext) -> None:
    entries = ctx.get_state(list)
    entries.append(ctx.get_input())
    ctx.set_state(entries)


@app.entity
class Account:
    """Class-based: public methods are the operations, attributes the state."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError(f"balance {self.balance} is less than {amount}")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


@app.orchestrator
def add_many(context: durably.OrchestrationContext) -> Any:
    count, amount = context.get_input()
    for _ in range(count):
        context.signal_entity(COUNTER, "add", amount)
    return count
    yield  # a generator orchestrator that yields nothing


@app.orchestrator
def call_and_fail(context: durably.OrchestrationContext) -> Any:
    entity = EntityId("counter", context.instance_id)
    first = yield context.call_entity(entity, "add", 5)
    try:
        yield context.call_entity(entity, "fail_after_change")
        failed = None
    except durably.TaskFailedError as exc:
        failed = str(exc)
    after = yield context.call_entity(entity, "get")
    return [first, failed, after]


@app.orchestrator
def banking(context: durably.OrchestrationContext) -> Any:
    account = EntityId("account", context.instance_id)
    yield context.call_entity(account, "deposit", 100)
    left = yield context.call_entity(account, "withdraw", 30)
    try:
        yield context.call_entity(account, "withdraw", 1000)
    except durably.TaskFailedError as exc:
        refused = str(exc)
    return [left, refused, (yield context.call_entity(account, "get"))]


@app.orchestrator
async def awaits_an_entity(context: durably.OrchestrationContext) -> Any:
    account = EntityId("account", context.instance_id)
    return await context.call_entity(account, "deposit", 3)


@app.orchestrator
def in_order(context: durably.OrchestrationContext) -> Any:
    for n in range(context.get_input()):
        context.signal_entity(EntityId("journal", context.instance_id), "append", n)
    return None
    yield


@app.orchestrator
def calls_a_stranger(context: durably.OrchestrationContext) -> Any:
    return (yield context.call_entity(EntityId("stranger", "x"), "hello"))


@app.orchestrator
def transfer(context: durably.OrchestrationContext) -> Any:
    """Move an amount between two accounts under a critical section: no other
    orchestration's operation runs on either in between."""
    source, target, amount = context.get_input()
    a, b = EntityId("account", source), EntityId("account", target)
    with (yield context.lock([a, b])):
        balance = yield context.call_entity(a, "get")
        if balance < amount:
            return False
        yield context.call_entity(a, "withdraw", amount)
        yield context.call_entity(b, "deposit", amount)
    return True


@app.orchestrator
async def transfer_async(context: durably.OrchestrationContext) -> Any:
    source, target, amount = context.get_input()
    a, b = EntityId("account", source), EntityId("account", target)
    async with context.lock([b, a]):
        balance = await context.call_entity(a, "get")
        if balance < amount:
            return False
        await context.call_entity(a, "withdraw", amount)
        await context.call_entity(b, "deposit", amount)
    return True


@app.orchestrator
def fails_holding_a_lock(context: durably.OrchestrationContext) -> Any:
    with (yield context.lock([EntityId("account", "held")])):
        yield context.call_entity(EntityId("account", "held"), "deposit", 1)
        raise RuntimeError("failed inside the critical section")


@app.orchestrator
def holds_a_lock(context: durably.OrchestrationContext) -> Any:
    busy = EntityId("account", "busy")
    with (yield context.lock([busy])):
        yield context.call_entity(busy, "deposit", 1)
        yield context.wait_for_external_event("release")
    return "released"


@app.entity
def blink(ctx: EntityContext) -> None:
    """Has state after ``on``, none after ``off``: empty between, as purges find it."""
    if ctx.operation_name == "on":
        ctx.set_state(ctx.get_input())
    else:
        ctx.delete_state()


@app.orchestrator
def blinks(context: durably.OrchestrationContext) -> Any:
    count = context.get_input()
    for n in range(count):
        context.signal_entity(EntityId("blink", str(n % 4)), "on", n)
        context.signal_entity(EntityId("blink", str(n % 4)), "off")
        if n % 10 == 9:
            yield context.create_timer(context.current_utc_datetime)  # another episode
    return count


@app.orchestrator
def continues_holding_a_lock(context: durably.OrchestrationContext) -> Any:
    round_ = context.get_input()
    if round_ >= 1:
        return round_
    with (yield context.lock([EntityId("account", "renewed")])):
        yield context.call_entity(EntityId("account", "renewed"), "deposit", 1)
        context.continue_as_new(round_ + 1)
    return None


@app.orchestrator
def tries_a_lock(context: durably.OrchestrationContext) -> Any:
    """Gives up on the locks after a moment (the request stays on its way)."""
    mode = context.get_input()
    if mode == "done":
        return "gave up"
    entities = [EntityId("journal", "contended"), EntityId("journal", "untouched")]
    lock = context.lock(entities)
    timeout = context.create_timer(context.current_utc_datetime + _dt.timedelta(seconds=0.05))
    winner = yield context.task_any([lock, timeout])
    if winner is lock:
        return "locked"
    if mode == "continue":
        context.continue_as_new("done")
        return None
    return "gave up"


@app.orchestrator
def holds_then_releases(context: durably.OrchestrationContext) -> Any:
    with (yield context.lock([EntityId("journal", "contended")])):
        yield context.wait_for_external_event("release")
    return "released"


@app.orchestrator
def signals_then_calls_inside(context: durably.OrchestrationContext) -> Any:
    mine = EntityId("journal", context.instance_id)
    with (yield context.lock([mine])):
        context.signal_entity(mine, "append", "signalled")
        yield context.call_entity(mine, "append", "called")
    return None


@app.orchestrator
def nests_sections(context: durably.OrchestrationContext) -> Any:
    with (yield context.lock([EntityId("journal", "n1")])):  # noqa: SIM117  (nesting is the point)
        with (yield context.lock([EntityId("journal", "n2")])):
            pass
    return None


@app.orchestrator
def calls_outside_its_section(context: durably.OrchestrationContext) -> Any:
    with (yield context.lock([EntityId("journal", "o1")])):
        yield context.call_entity(EntityId("journal", "o2"), "append", 1)
    return None


@app.orchestrator
def by_keywords(context: durably.OrchestrationContext) -> Any:
    """Every entity call with the documented keyword names."""
    account = EntityId("account", context.instance_id)
    tally = EntityId("counter", context.instance_id)
    with (yield context.lock(entity_ids=[account, tally])):
        deposited = yield context.call_entity(entity_id=account, operation="deposit", input_=7)
        context.signal_entity(entity_id=tally, operation="add", input_=1)
    return deposited
