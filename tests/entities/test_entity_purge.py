"""Purging entities that hold nothing: only those are deleted, the others stay, a purge
racing a storm of operations loses none of them, and a purged entity comes back with its
next operation. On every store."""

from __future__ import annotations

import threading
import time

from durably import EntityId
from durably.backends.base import Backend
from durably.worker import observe

from .test_entities import _until, _worker


def test_only_entities_that_hold_nothing_are_purged(backend: Backend) -> None:
    gone, kept = EntityId("counter", "gone"), EntityId("counter", "kept")
    with _worker(backend) as worker:
        client = worker.client()
        client.signal_entity(gone, "add", 1)
        client.signal_entity(kept, "add", 2)
        _until(lambda: client.read_entity_state(kept).entity_exists)
        _until(lambda: client.read_entity_state(gone).entity_exists)
        client.signal_entity(gone, "delete")
        _until(lambda: not client.read_entity_state(gone).entity_exists)
        assert client.purge_entities("counter") == 1
        assert client.get_status(gone.instance_id) is None
        assert client.read_entity_state(kept).entity_state == 2
        assert client.purge_entities() == 0
        client.signal_entity(gone, "add", 5)  # comes back with its next operation
        _until(lambda: client.read_entity_state(gone).entity_state == 5)


class _Counting:
    """Counts entity operations as their commits land."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.operations = 0

    def entity_operation_done(self, name: str, status: str) -> None:
        with self.lock:
            self.operations += 1

    def activity_done(self, name: str, status: str, seconds: float) -> None: ...
    def episode_done(self, name: str, seconds: float) -> None: ...
    def orchestration_finished(self, name: str, status: str) -> None: ...


def test_a_purge_racing_operations_loses_none(backend: Backend) -> None:
    # Four entities go empty after every other operation while purges run in a loop:
    # every operation sent is applied (counted as its commit lands) exactly once.
    counting = _Counting()
    previous = observe.current()
    observe.install(counting)  # type: ignore[arg-type]
    stop = threading.Event()
    purged = [0]
    try:
        with _worker(backend) as worker:
            client = worker.client()

            def purge_loop() -> None:
                while not stop.is_set():
                    purged[0] += client.purge_entities("blink")

            purger = threading.Thread(target=purge_loop)
            purger.start()
            try:
                ids = [client.start_new("blinks", client_input=60) for _ in range(6)]
                for instance_id in ids:
                    client.wait_for_completion(instance_id, timeout=120)
                _until(lambda: counting.operations >= 6 * 60 * 2, timeout=60)
            finally:
                stop.set()
                purger.join(30)
            time.sleep(0.2)
    finally:
        observe.install(previous)
    assert counting.operations == 6 * 60 * 2
    assert purged[0] >= 1, "the purges should have found empty entities"
