"""Prometheus metrics (``pip install 'durably[metrics]'``, prometheus-client).

Counters and histograms come from the worker's reports (:mod:`durably.worker.observe`):

- ``durably_orchestrations_total{name,status}``: executions that ended;
- ``durably_activities_total{name,status}``: activity attempts that ended;
- ``durably_activity_duration_seconds{name}``: how long attempts ran;
- ``durably_episode_duration_seconds{name}``: how long episodes ran, replay included;
- ``durably_entity_operations_total{name,status}``: entity operations that ran.

Gauges are read from the store when scraped, from indexes, at most every few seconds
(:data:`CACHE_SECONDS`), however often Prometheus asks:

- ``durably_backlog{kind}``: work visible and not taken (``orchestration`` messages,
  ``activity`` requests);
- ``durably_backlog_age_seconds{kind}``: how long the oldest of it has waited;
- ``durably_instances{status}``: instances by runtime status.

``Worker(metrics_port=N)`` / ``durably worker --metrics-port N`` serve them on
``http://HOST:N/metrics``; ``durably serve`` at ``GET /metrics``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from durably.backends.base import Backend
from durably.backends.summaries import summarize
from durably.worker import observe

log = logging.getLogger("durably.metrics")

CACHE_SECONDS = 5.0
"""How long a reading of the store's gauges is reused."""
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

_lock = threading.Lock()
_observer: PrometheusObserver | None = None
_stores: dict[int, StoreCollector] = {}


class PrometheusObserver:
    """The worker's reports as Prometheus counters and histograms."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.orchestrations = Counter(
            "durably_orchestrations",
            "Orchestration executions that ended, by orchestrator and final status.",
            ["name", "status"],
            registry=registry,
        )
        self.activities = Counter(
            "durably_activities",
            "Activity attempts that ended, by activity and status (Completed, Failed).",
            ["name", "status"],
            registry=registry,
        )
        self.activity_duration = Histogram(
            "durably_activity_duration_seconds",
            "How long activity attempts ran.",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.episode_duration = Histogram(
            "durably_episode_duration_seconds",
            "How long orchestration episodes ran (replay included).",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

        self.entity_operations = Counter(
            "durably_entity_operations",
            "Entity operations that ran, by entity name and status (Completed, Failed).",
            ["name", "status"],
            registry=registry,
        )

    def entity_operation_done(self, name: str, status: str) -> None:
        self.entity_operations.labels(name, status).inc()

    def activity_done(self, name: str, status: str, seconds: float) -> None:
        self.activities.labels(name, status).inc()
        self.activity_duration.labels(name).observe(seconds)

    def episode_done(self, name: str, seconds: float) -> None:
        self.episode_duration.labels(name).observe(seconds)

    def orchestration_finished(self, name: str, status: str) -> None:
        self.orchestrations.labels(name, status).inc()


class StoreCollector(Collector):
    """The store's gauges, read when scraped and reused for :data:`CACHE_SECONDS`."""

    def __init__(self, backend: Backend, cache_seconds: float = CACHE_SECONDS) -> None:
        self._backend = backend
        self._cache_seconds = cache_seconds
        self._read_at = -1e9
        self._families: list[GaugeMetricFamily] = []
        self._lock = threading.Lock()
        self.reads = 0
        """How many times the store was read (for tests and curious operators)."""

    def describe(self) -> list[Any]:
        # Nothing up front: registering must not read the store.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._cache_seconds:
                try:
                    self._families = self._read()
                except Exception:  # the store is unreachable: the other metrics still go out
                    log.warning("could not read the store's gauges", exc_info=True)
                    self._families = []
                self._read_at = time.monotonic()
            yield from self._families

    def _read(self) -> list[GaugeMetricFamily]:
        self.reads += 1
        now = _dt.datetime.now(_dt.UTC)
        summary = summarize(self._backend, now, 0)
        backlog = GaugeMetricFamily(
            "durably_backlog", "Work visible and not taken, by kind.", labels=["kind"]
        )
        age = GaugeMetricFamily(
            "durably_backlog_age_seconds",
            "How long the oldest work of each kind has waited.",
            labels=["kind"],
        )
        for kind in ("orchestration", "activity"):
            backlog.add_metric([kind], summary.backlog.get(kind, 0))
            due = summary.oldest.get(kind)
            age.add_metric([kind], max(0.0, (now - due).total_seconds()) if due else 0.0)
        instances = GaugeMetricFamily(
            "durably_instances", "Instances by runtime status.", labels=["status"]
        )
        for status, count in sorted(summary.counts.items()):
            instances.add_metric([status.value], count)
        return [backlog, age, instances]


def install(backend: Backend | None = None) -> PrometheusObserver:
    """Report this process's workers to Prometheus' default registry (once), and add the
    gauges of ``backend``'s store (once per store object)."""
    global _observer
    with _lock:
        if _observer is None:
            _observer = PrometheusObserver()
        observe.install(_observer)
        if backend is not None and id(backend) not in _stores:
            collector = StoreCollector(backend)
            REGISTRY.register(collector)
            _stores[id(backend)] = collector
        return _observer


def uninstall(backend: Backend) -> None:
    """Stop reading ``backend``'s gauges (its store object is being closed)."""
    with _lock:
        collector = _stores.pop(id(backend), None)
        if collector is not None:
            REGISTRY.unregister(collector)


def exposition() -> tuple[bytes, str]:
    """The default registry's metrics in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a thread; the server (``.shutdown()``)."""
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=host)
    return server
