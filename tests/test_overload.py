"""Overload, bounded: a burst of a few thousand instances all finish, and what the worker
keeps in memory at once is held by its settings, not by the size of the backlog.

A third of the instances wait in the store before the worker starts (a backlog it meets
at start-up), the rest arrive in a burst from four client threads while it drains. The
worker runs in this process on a store wrapped by :class:`Recorder` (a ``Backend`` object
passed to ``Worker`` is public API), which notes how much work the worker asks the store
for and holds. Asserted, because the code guarantees it: live generators in the cache
never exceed ``cache_size``, activities running at once never exceed
``activity_concurrency`` (nor does any request for activity work), and the orchestration
loop's batches never exceed ``orchestration_batch_size``, and the activity work leased
and not yet reported back (running, or its result waiting for delivery) stays under
three times ``activity_concurrency`` (at most that many running, and once that many
results wait a finished activity keeps its slot until a delivery is done, so at most
that many more can join them), as does a delivery of results.
Memory (RSS) figures for 100,000 instances come from ``python -m benchmarks.overload``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import durably
from durably.backends import open_backend
from durably.backends.base import (
    ActivityResult,
    ActivityWorkItem,
    EpisodeBatch,
    NewInstance,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from tests import pg

INSTANCES = 3000
BEFORE_WORKER = 1000  # started before the worker runs
CLIENTS = 4
ACTIVITY_CONCURRENCY = 8
BATCH_SIZE = 32
CACHE_SIZE = 16  # below the batch size: the first batch alone fills the cache
ACTIVITY_SECONDS = 0.002  # instances wait in the cache while their activities run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Concurrency:
    """Activities running at once, and the most seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


running = Concurrency()
app = durably.App()


@app.activity
def add_one(x: int) -> int:
    running.enter()
    try:
        time.sleep(ACTIVITY_SECONDS)
        return x + 1
    finally:
        running.leave()


@app.orchestrator
def two_steps(context: durably.OrchestrationContext) -> Any:
    x = yield context.call_activity(add_one, context.get_input())
    return (yield context.call_activity(add_one, x))


class Recorder:
    """A store that notes the work its worker asks for and holds; everything else is
    the wrapped store's."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._held: set[int] = set()  # activity work leased to the worker, not reported
        self.most_held = 0
        self.largest_activity_request = 0
        self.largest_loop_batch = 0  # episodes locked by the orchestration loop at once
        self.largest_delivery = 0  # instances named by a delivery of activity results

    @property
    def held(self) -> int:
        return len(self._held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _track(self, retired: Sequence[int], leased: Sequence[ActivityWorkItem]) -> None:
        # Retired first: a claim may take over the row of the activity its commit retires.
        with self._lock:
            self._held.difference_update(retired)
            self._held.update(item.message_id for item in leased)
            self.most_held = max(self.most_held, len(self._held))

    def lock_next_activities(self, **kwargs: Any) -> list[ActivityWorkItem]:
        self.largest_activity_request = max(self.largest_activity_request, kwargs["limit"])
        items: list[ActivityWorkItem] = self._store.lock_next_activities(**kwargs)
        self._track((), items)
        return items

    def run_episodes(self, runner: Callable[..., Any], **kwargs: Any) -> EpisodeBatch:
        named = kwargs.get("instance_ids", ())
        commits: list[OrchestrationCommit] = []

        def recording(items: Sequence[OrchestrationWorkItem]) -> Sequence[OrchestrationCommit]:
            if not named:
                self.largest_loop_batch = max(self.largest_loop_batch, len(items))
            commits[:] = runner(items)
            return commits

        self.largest_delivery = max(self.largest_delivery, len(named))
        batch: EpisodeBatch = self._store.run_episodes(recording, **kwargs)
        done = [c for c in commits if c.work_item.instance.instance_id not in batch.lost]
        self._track([m for c in done for m in c.completed_activities], batch.claimed)
        return batch

    def commit_if_unchanged(self, commit: OrchestrationCommit, **kwargs: Any) -> Any:
        batch = self._store.commit_if_unchanged(commit, **kwargs)
        if batch is not None:
            self._track(commit.completed_activities, batch.claimed)
        return batch

    def create_and_commit(self, new: NewInstance, commit: OrchestrationCommit) -> Any:
        batch = self._store.create_and_commit(new, commit)
        if batch is not None:
            self._track((), batch.claimed)
        return batch

    def complete_activities(self, results: Sequence[ActivityResult]) -> list[int]:
        lost: list[int] = self._store.complete_activities(results)
        self._track([r.work_item.message_id for r in results], ())
        return lost

    def abandon_activity(self, work_item: ActivityWorkItem, **kwargs: Any) -> None:
        self._store.abandon_activity(work_item, **kwargs)
        self._track([work_item.message_id], ())


class CacheWatch:
    """Samples the worker's count of cached live orchestrations on a thread."""

    def __init__(self, worker: durably.Worker) -> None:
        self._worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.most = 0

    def __enter__(self) -> CacheWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, self._worker.orchestrations.cached_instances)
            time.sleep(0.0005)


def _burst(url: str, first: int, count: int) -> dict[str, int]:
    """Start ``count`` instances from CLIENTS threads at once; their ids and inputs."""
    started: list[dict[str, int]] = [{} for _ in range(CLIENTS)]

    def start(k: int) -> None:
        with durably.Client(url) as client:
            for i in range(first + k, first + count, CLIENTS):
                started[k][client.start_new("two_steps", client_input=i)] = i

    threads = [threading.Thread(target=start, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {instance_id: i for part in started for instance_id, i in part.items()}


def _overload(url: str, record_property: Callable[[str, object], None]) -> None:
    running.most = 0
    inputs = _burst(url, 0, BEFORE_WORKER)
    backend = open_backend(url)
    store = Recorder(backend)
    worker = durably.Worker(
        app,
        store=store,
        activity_concurrency=ACTIVITY_CONCURRENCY,
        orchestration_batch_size=BATCH_SIZE,
        cache_size=CACHE_SIZE,
    )
    try:
        with worker, CacheWatch(worker) as cache:
            inputs |= _burst(url, BEFORE_WORKER, INSTANCES - BEFORE_WORKER)
            with durably.Client(url) as client:
                statuses = [client.wait_for_completion(i, timeout=60) for i in inputs]
    finally:
        backend.close()

    assert len(inputs) == INSTANCES
    wrong = [
        (s.instance_id, s.runtime_status, s.output)
        for s in statuses
        if s.runtime_status != durably.OrchestrationRuntimeStatus.Completed
        or s.output != inputs[s.instance_id] + 2
    ]
    assert not wrong, wrong[:5]
    # remember() inserts, then evicts: a reader on another thread may see one over for an
    # instant, never more (the dispatcher serialises remember()).
    assert CACHE_SIZE <= cache.most <= CACHE_SIZE + 1
    assert worker.orchestrations.cached_instances <= CACHE_SIZE
    assert running.most <= ACTIVITY_CONCURRENCY
    assert store.largest_activity_request <= ACTIVITY_CONCURRENCY
    assert 0 < store.largest_loop_batch <= BATCH_SIZE
    assert store.held == 0  # every activity reported back: the recorder missed nothing
    assert store.most_held <= 3 * ACTIVITY_CONCURRENCY
    assert store.largest_delivery <= 3 * ACTIVITY_CONCURRENCY
    record_property("most_activity_work_held", store.most_held)
    record_property("largest_result_delivery", store.largest_delivery)
    print(
        f"activities at once {running.most}/{ACTIVITY_CONCURRENCY}, cache {cache.most}/"
        f"{CACHE_SIZE}, loop batch {store.largest_loop_batch}/{BATCH_SIZE}; activity work"
        f" held at once {store.most_held}, largest result delivery {store.largest_delivery}"
    )


def test_sqlite_burst_finishes_within_the_worker_bounds(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    _overload(f"sqlite:///{tmp_path / 'overload.db'}", record_property)


@pytest.fixture
def pg_store() -> Iterator[str]:
    server = pg.server_url()
    with pg.fresh_schema(server, "overload") as schema:
        yield pg.with_query(server, schema=schema)


@pytest.mark.postgres
def test_postgres_burst_finishes_within_the_worker_bounds(
    pg_store: str, record_property: Callable[[str, object], None]
) -> None:
    _overload(pg_store, record_property)
