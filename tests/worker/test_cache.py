"""The live-orchestration cache only saves replays: bounded, evicting, never changing results."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import durably
from durably.backends.memory import MemoryBackend
from durably.worker import ActivityDispatcher, OrchestrationDispatcher

# The dispatchers run at T0, which must not precede the wall-clock times the client stamps
# on messages (raise_event): an hour ahead holds however long the suite ran before this.
T0 = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
app = durably.App()


@app.activity
def double(x: int) -> int:
    return 2 * x


@app.orchestrator
def waits_then_sums(context: durably.OrchestrationContext) -> Any:
    first = yield context.call_activity(double, context.get_input())
    extra = yield context.wait_for_external_event("more")
    parts = yield context.task_all([context.call_activity(double, x) for x in extra])
    context.set_custom_status(len(parts))
    return first + sum(parts)


def _drive(
    orchestrations: OrchestrationDispatcher, backend: MemoryBackend, now: dt.datetime
) -> None:
    activities = ActivityDispatcher(app, backend, owner="w")
    while orchestrations.run_once(now) + activities.run_once(now):
        pass


def _workload(cache_size: int, idle: dt.timedelta = dt.timedelta(minutes=5)) -> dict[str, Any]:
    backend = MemoryBackend()
    client = durably.Client(backend, app=app)
    dispatcher = OrchestrationDispatcher(
        app, backend, owner="w", cache_size=cache_size, cache_idle=idle
    )
    ids = [client.start_new(waits_then_sums, f"i{n}", n) for n in range(6)]
    _drive(dispatcher, backend, T0)
    cached_while_waiting = dispatcher.cached_instances
    for n, instance_id in enumerate(ids):
        client.raise_event(instance_id, "more", list(range(n)))
        _drive(dispatcher, backend, T0 + dt.timedelta(minutes=n))
    outcome = {}
    for instance_id in ids:
        status = client.get_status(instance_id)
        assert status is not None
        # Activity results and raised events carry wall-clock timestamps: compare the rest.
        events = [
            {k: v for k, v in e.to_dict().items() if k != "Timestamp"}
            for e in client.get_history(instance_id)
        ]
        outcome[instance_id] = (status.runtime_status, status.output, status.custom_status, events)
    outcome["cached_while_waiting"] = cached_while_waiting
    return outcome


def test_results_with_the_cache_equal_results_without_it() -> None:
    with_cache, without = _workload(cache_size=1000), _workload(cache_size=0)
    assert with_cache.pop("cached_while_waiting") == 6
    assert without.pop("cached_while_waiting") == 0
    assert with_cache == without
    assert with_cache["i3"][:2] == ("Completed", 6 + 2 * (0 + 1 + 2))


def test_the_cache_is_bounded_by_size_and_results_do_not_change() -> None:
    bounded = _workload(cache_size=2)
    assert bounded.pop("cached_while_waiting") == 2
    unbounded = _workload(cache_size=1000)
    unbounded.pop("cached_while_waiting")
    assert bounded == unbounded


def test_idle_instances_are_evicted_and_still_finish_correctly() -> None:
    idle = _workload(cache_size=1000, idle=dt.timedelta(seconds=30))
    idle.pop("cached_while_waiting")
    reference = _workload(cache_size=0)
    reference.pop("cached_while_waiting")
    assert idle == reference


def test_an_instance_idle_past_the_limit_leaves_the_cache() -> None:
    backend = MemoryBackend()
    client = durably.Client(backend, app=app)
    dispatcher = OrchestrationDispatcher(
        app, backend, owner="w", cache_idle=dt.timedelta(seconds=30)
    )
    waiting, busy = (client.start_new(waits_then_sums, i, 1) for i in ("waiting", "busy"))
    _drive(dispatcher, backend, T0)
    assert dispatcher.cached_instances == 2
    client.raise_event(busy, "more", [1])
    _drive(dispatcher, backend, T0 + dt.timedelta(minutes=2))
    assert dispatcher.cached_instances == 0  # "busy" finished, "waiting" sat idle too long
    client.raise_event(waiting, "more", [5])
    _drive(dispatcher, backend, T0 + dt.timedelta(minutes=3))
    status = client.get_status(waiting)
    assert status is not None and status.output == 2 + 10


def test_a_worker_with_nothing_to_do_lets_idle_instances_go() -> None:
    # No commit comes to sweep the cache: the idle worker does it.
    backend = MemoryBackend()
    with durably.Worker(app, store=backend, cache_idle_seconds=0.2, poll_interval=0.05) as worker:
        client = worker.client()
        waiting = client.start_new(waits_then_sums, client_input=1)
        deadline = time.monotonic() + 10
        while worker.orchestrations.cached_instances == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.orchestrations.cached_instances == 1
        while worker.orchestrations.cached_instances and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.orchestrations.cached_instances == 0
        client.raise_event(waiting, "more", [5])
        assert client.wait_for_completion(waiting, timeout=10).output == 2 + 10
