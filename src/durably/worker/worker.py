"""Worker: runs an app's orchestrations and activities on threads in this process.

Threads: one runs orchestration episodes in batches (episodes are short and CPU-bound,
so one thread with group commits beats many), one fetches activity work into the pool
(:mod:`durably.worker.pool`), one delivers activity results in batches and one renews
the leases of running activities (:mod:`durably.worker.delivery`), all kept running by
a :class:`~durably.worker.supervision.Supervisor`. Idle threads sleep on the store's
wake-ups, with a short poll as the fallback for other processes' work.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from durably.app import App
from durably.backends.base import ActivityWorkItem, Backend, InstanceQuery, NewInstance
from durably.backends.derived import DerivedFastPaths
from durably.client import Client, connect

if TYPE_CHECKING:
    from durably.async_client import AsyncClient
from durably.history import TERMINAL_STATUSES
from durably.versions import InstanceFilter, VersionFailure, VersionMatch
from durably.worker.activities import ActivityDispatcher
from durably.worker.claims import ActivityHandOff
from durably.worker.client import WorkerClient
from durably.worker.delivery import ResultDelivery
from durably.worker.orchestrations import OrchestrationDispatcher
from durably.worker.pool import EventLoopThread, Slots, ThreadPool
from durably.worker.settings import WorkerSettings
from durably.worker.supervision import Supervisor, run_until_signalled
from durably.worker.unknown import waiting_note

log = logging.getLogger("durably.worker")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Worker:
    """Processes work for ``app`` from ``store`` until stopped. Use it as a context manager.

    ``activity_concurrency`` bounds the activities running at once (threads start as
    needed); ``cache_size`` bounds the live orchestrations kept in memory between
    episodes (0 turns the cache off) and ``cache_idle_seconds`` how long one stays there
    unused; ``poll_interval`` is how often an idle worker looks for work made by other
    processes. ``retention_days`` (off by default) makes the worker purge, every
    ``retention_check_interval`` seconds, the finished instances (Completed, Failed,
    Terminated) created more than that many days ago. With ``direct_episodes`` (on by
    default) a finished activity's result is applied by running its instance's episode
    right away, in the commit that retires the activity, instead of through the inbox.
    ``max_dequeue_count`` (default 5; per activity with ``@app.activity(max_dequeue_count=)``)
    bounds the deliveries of work without a report back (its worker died or hung): then an
    activity's task, or an orchestration instance, fails with ``PoisonWorkError`` instead
    of being delivered again. ``version_match`` picks the instances the worker runs by the
    app version that started them (``App(version=)``): ``"none"`` (default) all,
    ``"strict"`` those of its app's version, ``"current_or_older"`` those of its version
    or an older one; instances without a version go to any worker. ``version_failure``
    says what happens to the others: ``"reject"`` (default) leaves them to a worker that
    takes them (this one is never offered them), ``"fail"`` fails them with
    ``VersionMismatchError``. ``unknown_function`` says what to do with the work of an
    orchestrator or activity the app lacks: ``"fail"`` (default) fails it at once,
    ``"wait"`` leaves it to a worker that has it (a rolling deploy) and fails it only once
    it has waited ``grace`` seconds (300 by default). ``metrics_port`` serves Prometheus
    metrics at ``http://metrics_host:metrics_port/metrics`` while the worker runs
    (:mod:`durably.metrics`; needs prometheus-client; host 127.0.0.1 by default).
    A setting that cannot work raises ``ValueError`` naming it; ``settings`` holds them.
    """

    def __init__(
        self,
        app: App,
        store: str | Backend | None = None,
        *,
        activity_concurrency: int = 128,
        orchestration_batch_size: int = 64,
        cache_size: int = 4096,
        cache_idle_seconds: float = 300.0,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.25,
        retention_days: float | None = None,
        retention_check_interval: float = 3600.0,
        direct_episodes: bool = True,
        max_dequeue_count: int = 5,
        version_match: VersionMatch = "none",
        version_failure: VersionFailure = "reject",
        unknown_function: Literal["fail", "wait"] = "fail",
        grace: float = 300.0,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        if metrics_port is not None and (
            not isinstance(metrics_port, int) or not 0 <= metrics_port <= 65535
        ):
            raise ValueError(f"metrics_port must be a port number, got {metrics_port!r}")
        self._metrics_at = None if metrics_port is None else (metrics_host, metrics_port)
        self._metrics_server: Any = None
        self.settings = settings = WorkerSettings(
            activity_concurrency=activity_concurrency,
            orchestration_batch_size=orchestration_batch_size,
            cache_size=cache_size,
            cache_idle_seconds=cache_idle_seconds,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            retention_days=retention_days,
            retention_check_interval=retention_check_interval,
            direct_episodes=direct_episodes,
            max_dequeue_count=max_dequeue_count,
            version_match=version_match,
            version_failure=version_failure,
            unknown_function=unknown_function,
            grace=grace,
        )
        versions = _version_filter(app, settings.version_match)
        waits = settings.unknown_function == "wait"
        self._unknown_since: dict[int, float] = {}  # activity request -> first seen here
        self._swept = time.monotonic()
        self.app = app
        self._owns_backend = not isinstance(store, Backend)
        self.backend = connect(store, app)
        self.worker_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots = Slots(settings.activity_concurrency)
        self.orchestrations = OrchestrationDispatcher(
            app,
            self.backend,
            owner=self.worker_id,
            lease=settings.lease,
            batch_size=settings.orchestration_batch_size,
            cache_size=settings.cache_size,
            cache_idle=_dt.timedelta(seconds=settings.cache_idle_seconds),
            hand_off=ActivityHandOff(
                slots=self._slots, lease=settings.lease, run=self._run_claimed
            ),
            # Commits without a lock only pay off on a store's own fast paths: derived
            # ones always decline them, after the episode ran for nothing.
            unlocked_commits=not isinstance(self.backend, DerivedFastPaths),
            max_dequeue_count=settings.max_dequeue_count,
            versions=versions,
            reject=settings.version_failure == "reject",
            known_only=waits,
        )
        self.activities = ActivityDispatcher(
            app,
            self.backend,
            owner=self.worker_id,
            lease=settings.lease,
            max_dequeue_count=settings.max_dequeue_count,
        )
        retention = settings.retention_days
        self._retention = None if retention is None else _dt.timedelta(days=retention)
        self._supervisor = Supervisor(poll_interval=settings.poll_interval)
        self._delivery = ResultDelivery(
            self.backend,
            self.orchestrations,
            self.activities,
            slots=self._slots,
            # A result's episode runs where the activity ran: on a worker that takes
            # only some versions, it goes through the inbox to one that takes it.
            direct_episodes=settings.direct_episodes and versions is None and not waits,
            stopping=self._supervisor.stopping,
            lease_seconds=settings.lease_seconds,
        )
        self._pool: ThreadPool | None = None
        self._event_loop = EventLoopThread()

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> Worker:
        """Start the worker's threads (idempotent)."""
        if self._supervisor.running:
            return self
        self._pool = ThreadPool(
            self.settings.activity_concurrency, self.activities, self._delivery.ran
        )
        supervisor = self._supervisor
        targets = {
            "orchestrations": supervisor.repeat("orchestration dispatcher", self._run_episodes),
            "activities": supervisor.repeat("fetching activity work", self._fetch_activities),
            "results": self._delivery.deliver_batches,
            "leases": self._delivery.renew_leases,
        }
        if self._retention is not None:
            targets["retention"] = self._retention_loop
        if self._metrics_at is not None:
            self._serve_metrics(*self._metrics_at)
        supervisor.start(targets)
        return self

    def _serve_metrics(self, host: str, port: int) -> None:
        try:
            from durably import metrics
        except ImportError as exc:
            raise RuntimeError(
                f"metrics_port needs prometheus-client: pip install 'durably[metrics]' ({exc})"
            ) from None
        metrics.install(self.backend)
        self._metrics_server = metrics.serve(port, host)

    @property
    def metrics_port(self) -> int | None:
        """The port metrics are served on while the worker runs (None: not served)."""
        server = self._metrics_server
        return None if server is None else int(server.server_address[1])

    def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching work, let running activities finish, deliver their results, and
        release the store, in about ``timeout`` seconds at most. Unfinished work (an
        activity still running then) is left to be retried when its lease runs out."""
        supervisor = self._supervisor
        if not supervisor.running:
            return
        deadline = time.monotonic() + timeout
        supervisor.stopping.set()
        self.backend.interrupt()
        # The pool first: the activity loop may be stuck in a store call (a write lock
        # held elsewhere) and must not eat the running activities' time. What it fetches
        # after this is handed back, unrun.
        if self._pool is not None:
            # Never started: hand them back at once.
            for item in self._pool.shutdown(max(deadline - time.monotonic(), 0)):
                self._delivery.finished(item, None)
        supervisor.join("activities", max(deadline - time.monotonic(), 0.5))
        self._delivery.close()
        supervisor.join_all(max(deadline - time.monotonic(), 0.5))
        self._event_loop.stop(max(deadline - time.monotonic(), 0.1))
        if self._metrics_server is not None:
            from durably import metrics

            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
            metrics.uninstall(self.backend)
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_forever(self, stop_timeout: float = 30.0) -> None:
        """Run until SIGINT or SIGTERM, then stop gracefully (:meth:`stop` with
        ``stop_timeout``); a second signal meanwhile stops at once (``SystemExit(1)``)."""
        run_until_signalled(self.start, lambda: self.stop(stop_timeout))

    def async_client(self) -> AsyncClient:
        """:meth:`client` as an :class:`~durably.async_client.AsyncClient`, for asyncio
        code (closing it leaves the worker's store open)."""
        from durably.async_client import AsyncClient  # asyncio: only for those who use it

        return AsyncClient(client=self.client())

    def client(self) -> Client:
        """A :class:`~durably.worker.client.WorkerClient` on the same store, which knows
        this worker's app.

        With ``direct_episodes``, while this worker runs and no activity is running,
        its ``start_new`` runs the new instance's first episode at once, in the commit
        that creates the instance.
        """
        return WorkerClient(
            self.backend,
            self.app,
            start=self._start if self.settings.direct_episodes else None,
            busy_with=self._delivery.working_on,
        )

    def _start(self, new: NewInstance, fresh_id: bool) -> None:
        # Only while no activity runs: an idle worker saves the start a commit and a
        # hand-off (latency); a busy one runs first episodes in its own batches, which
        # costs fewer commits than one per start (throughput).
        if (
            self._supervisor.running
            and not self._supervisor.stopping.is_set()
            and self._delivery.idle
        ):
            self.orchestrations.start(new, fresh_id=fresh_id)
        else:
            self.backend.create_instance(new)

    # -- loop iterations ------------------------------------------------------------
    def _run_episodes(self) -> None:
        # A batch smaller than the limit took all there was: wait for news (what arrived
        # meanwhile has already set the wake-up).
        now = _now()
        ran = self.orchestrations.run_once(now)
        if ran == 0:
            self.orchestrations.sweep_cache(now)
        self._sweep_unknown(now)
        if ran < self.settings.orchestration_batch_size:
            self.backend.wait_for_work("orchestration", self.settings.poll_interval)

    def _fetch_activities(self) -> None:
        free = self._slots.take_all(self.settings.poll_interval)
        items: list[ActivityWorkItem] = []
        now = _now()
        try:
            if free:
                items = self.activities.fetch(now, free)
        finally:
            if free > len(items):
                self._slots.give(free - len(items))
        for item in items:
            poisoned = self.activities.poisoned(item)
            if poisoned is None:
                self._run_or_hand_back(item, now + self.settings.lease)
            else:  # delivered too often without a report back: not run again
                self._delivery.to_inbox(item, poisoned)
        if not items and free:
            self.backend.wait_for_work("activity", self.settings.poll_interval)

    def _run_claimed(self, items: Sequence[ActivityWorkItem], expires: _dt.datetime) -> None:
        # Activities our own commits enqueued leased to us (their slots are taken).
        for item in items:
            self._run_or_hand_back(item, expires)

    def _sweep_unknown(self, now: _dt.datetime) -> None:
        """With ``unknown_function="wait"``, now and then, note why the work of the
        instances of orchestrators the app lacks waits, and fail those that waited past
        the grace period for another worker. Every forty poll intervals at most (a
        sweep reads every Pending and Running instance), four times per grace period at
        least."""
        settings = self.settings
        if settings.unknown_function != "wait":
            return
        every = max(settings.poll_interval, min(settings.grace / 4, 40 * settings.poll_interval))
        if time.monotonic() - self._swept < every:
            return
        self._swept = time.monotonic()
        self.orchestrations.sweep_unknown(now, settings.grace_period, _dt.timedelta(seconds=every))

    def _waits(self, item: ActivityWorkItem) -> bool:
        """With ``unknown_function="wait"``, hand back (visible again a little later) an
        activity the app lacks, for a worker that has it, until the grace period since
        this worker first saw it has passed: then it runs here, and fails as unknown."""
        settings = self.settings
        if settings.unknown_function != "wait" or item.name in self.app.activities:
            return False
        now = time.monotonic()
        if len(self._unknown_since) > 10_000:  # forget requests long gone
            self._unknown_since = {
                k: t for k, t in self._unknown_since.items() if now - t < 2 * settings.grace
            }
        first = self._unknown_since.setdefault(item.message_id, now)
        if now - first >= settings.grace:
            del self._unknown_since[item.message_id]
            return False
        self._slots.give(1)
        wall = _now()
        self.backend.abandon_activity(
            item, visible_at=wall + _dt.timedelta(seconds=min(settings.grace, 2.0))
        )
        fails_at = wall + _dt.timedelta(seconds=settings.grace - (now - first))
        note = waiting_note("activity", item.name, self.worker_id, fails_at)
        self.backend.note_waiting(item.instance_id, note)
        return True

    def _run_or_hand_back(self, item: ActivityWorkItem, expires: _dt.datetime) -> None:
        """Run ``item``, leased until ``expires``, unless it waits for another worker."""
        if self._waits(item):
            return
        try:
            self._run_activity(item, expires)
        except RuntimeError:  # the pool is shut down: we are stopping
            self._delivery.finished(item, None)

    def _run_activity(self, item: ActivityWorkItem, expires: _dt.datetime) -> None:
        self._delivery.track(item, expires)
        if self.activities.is_async(item):
            run = self.activities.execute_async(item)
            self._event_loop.submit(item, run, self._delivery.finished)
        else:
            assert self._pool is not None
            self._pool.submit(item)

    # -- retention ------------------------------------------------------------------
    def purge_expired(self, now: _dt.datetime | None = None) -> int:
        """Purge the finished instances older than the retention; how many were deleted.

        Does nothing (returns 0) without ``retention_days``.
        """
        if self._retention is None:
            return 0
        query = InstanceQuery(
            runtime_status=TERMINAL_STATUSES, created_time_to=(now or _now()) - self._retention
        )
        return self.backend.purge_instances(query)

    def _retention_loop(self) -> None:
        while True:
            try:
                deleted = self.purge_expired()
                if deleted:
                    log.info("retention: purged %d finished instances", deleted)
            except Exception:
                log.exception("retention purge failed; retrying later")
            if self._supervisor.stopping.wait(self.settings.retention_check_interval):
                return


def _version_filter(app: App, match: VersionMatch) -> InstanceFilter | None:
    if match == "none":
        return None
    if app.version is None:
        raise ValueError(f"version_match={match!r} needs an app version: App(version=...)")
    return InstanceFilter(version=app.version, strict=match == "strict")
