"""The chaos driver: a client that starts the workload and steers it as users would.

It keeps up to ``max_in_flight`` instances unfinished, starting the next specs as others
finish; it raises events, suspends, resumes and terminates on each spec's schedule, and
when an instance of kind ``rewound`` fails it "fixes" the activity (creates the marker
file) and rewinds it. A client call that fails with ``StoreError`` (the store was down
longer than the client reconnects for) is retried: that instance is then "resent", and the
oracle accepts its request recorded twice.
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import durably
from tests.chaos.workload import Spec, Step, spec

T = TypeVar("T")
RETRY_FOR = 120.0  # seconds a client call is retried through store errors


@dataclass
class Flight:
    spec: Spec
    started: float
    rewound: Any = None  # the failed status's last_updated_time when it was rewound


@dataclass
class Driver:
    client: durably.Client
    seed: int
    markers: Path
    max_in_flight: int
    in_flight: dict[str, Flight] = field(default_factory=dict)
    finished: list[Spec] = field(default_factory=list)
    stuck: list[Spec] = field(default_factory=list)
    resent: set[str] = field(default_factory=set)
    store_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    store_error_samples: list[str] = field(default_factory=list)
    rewinds: int = 0
    problems: list[str] = field(default_factory=list)
    _next: int = 0
    _due: list[tuple[float, int, str, Step]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def started(self) -> int:
        return self._next

    def fill(self, limit: int) -> None:
        """Start specs until ``max_in_flight`` are unfinished (never past spec ``limit``)."""
        while len(self.in_flight) < self.max_in_flight and self._next < limit:
            self._start(spec(self.seed, self._next, self.markers))
            self._next += 1

    def _start(self, item: Spec) -> None:
        def start() -> None:
            try:
                self.client.start_new(item.kind, item.instance_id, item.input)
            except durably.InstanceExistsError:
                if item.instance_id not in self.resent:
                    raise  # only a retried start may find its instance there already

        self._call(item.instance_id, "start_new", start)
        now = time.monotonic()
        self.in_flight[item.instance_id] = Flight(item, now)
        for step in item.steps:
            heapq.heappush(self._due, (now + step.after, next(self._order), item.instance_id, step))

    def steer(self) -> None:
        """Carry out every step that is due."""
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            _, _, instance_id, step = heapq.heappop(self._due)
            self._step(instance_id, step)

    def _step(self, instance_id: str, step: Step) -> None:
        client = self.client
        match step.action:
            case "raise":
                call: Callable[[], Any] = lambda: client.raise_event(  # noqa: E731
                    instance_id, step.event, step.value
                )
            case "suspend":
                call = lambda: client.suspend(instance_id, "chaos")  # noqa: E731
            case "resume":
                call = lambda: client.resume(instance_id, "chaos")  # noqa: E731
            case "terminate":
                call = lambda: client.terminate(instance_id, step.value)  # noqa: E731
            case _:
                raise AssertionError(step.action)
        try:
            self._call(instance_id, step.action, call)
        except durably.InvalidInstanceStateError as error:
            self.problems.append(f"{instance_id}: {step.action} refused: {error}")

    def poll(self) -> None:
        """Read the status of every unfinished instance; settle the finished ones."""
        for instance_id, flight in list(self.in_flight.items()):
            status = self._call(
                instance_id,
                "get_status",
                functools.partial(self.client.get_status, instance_id, show_input=False),
            )
            if status is None:
                self.problems.append(f"{instance_id}: lost after it was started")
                del self.in_flight[instance_id]
            elif status.runtime_status.is_terminal and not self._pending_steps(instance_id):
                if flight.rewound == status.last_updated_time:
                    continue  # the rewind request has not been processed yet
                if flight.spec.rewinds and status.runtime_status == "Failed":
                    self._rewind(flight, status)
                else:
                    del self.in_flight[instance_id]
                    self.finished.append(flight.spec)

    def _pending_steps(self, instance_id: str) -> bool:
        return any(due[2] == instance_id for due in self._due)

    def _rewind(self, flight: Flight, status: durably.DurableOrchestrationStatus) -> None:
        instance_id, failure = flight.spec.instance_id, str(status.output)
        if flight.rewound or "not fixed yet" not in failure:
            self.problems.append(f"{instance_id}: failed with {failure.splitlines()[0]}")
            del self.in_flight[instance_id]
            self.finished.append(flight.spec)
            return
        assert flight.spec.marker is not None
        flight.spec.marker.touch()
        self._call(instance_id, "rewind", lambda: self.client.rewind(instance_id, "fixed"))
        flight.rewound = status.last_updated_time
        self.rewinds += 1

    def _call(self, instance_id: str, what: str, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                return call()
            except durably.StoreError as error:
                self.store_errors[what] += 1
                self.store_error_samples.append(f"{what}: {error}")
                self.resent.add(instance_id)
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{what} of {instance_id} failed for {RETRY_FOR} s"
                    ) from error
                time.sleep(0.2)
