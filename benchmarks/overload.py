"""Overload: a burst of starts far beyond what the workers drain at once.

``python -m benchmarks.overload --store sqlite|postgres [--store ...] --instances 100000
[--workers 2] [--clients 4] [--backlog-first] [--out FILE] [--timeout SECONDS]``

N worker processes (``python -m benchmarks.overload_app URL``: a ``durably.Worker`` with
its defaults, as ``durably worker benchmarks.overload_app:app`` runs it, which also
prints the size of its live-orchestration cache every second) are started and ready;
then C client threads, each with its own ``Client``, start ``--instances`` two-step
chains (``two_steps``) as fast as they go. With ``--backlog-first`` the workers start
only once every instance has been started, so the whole burst is backlog when they come
up. Once a second the driver reads the store's backlog (instances by status, queued
activity work, inbox messages, by SQL), each worker's RSS and thread count
(``/proc/PID/status``) and the size of its cache (its last ``cached N`` line). When
every instance has finished it checks each one's status and output through
``Client.list_instances``, stops the workers (SIGTERM, exit 0 expected) and appends a
markdown report to ``--out`` (default ``benchmarks/results/overload.md``).

Stores: a fresh SQLite file under ``benchmarks/.scratch/`` (removed afterwards), or a
throwaway schema on the server of ``$DURABLY_TEST_POSTGRES`` (dropped afterwards);
PostgreSQL is skipped when the variable is unset.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as _dt
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import durably
from benchmarks import machine
from benchmarks.overload_app import ORCHESTRATOR, expected
from benchmarks.overload_report import FINISHED, Outcome, Sample, markdown
from benchmarks.stores import fresh_sqlite, pg_settings, remove_sqlite, sqlite_path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PG_ENV = "DURABLY_TEST_POSTGRES"
SAMPLE_EVERY = 1.0  # seconds between samples of RSS and backlog
PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr
SETTLE = 2.5  # seconds between the last finish and the final sample

Rows = Callable[[str], list[tuple[Any, ...]]]


# -- the stores ----------------------------------------------------------------------------
class SqliteStore:
    """A fresh file on the project's disk, read by one connection per thread."""

    kind = "sqlite"
    durability = "SQLite WAL, synchronous=FULL"

    def __init__(self) -> None:
        self.url = fresh_sqlite("durably", "overload", "FULL")
        self.path = sqlite_path(self.url)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._local.connection = connection
            self._connections.append(connection)
        return connection.execute(query).fetchall()

    def size_bytes(self) -> int | None:
        files = [self.path, Path(f"{self.path}-wal")]
        return sum(f.stat().st_size for f in files if f.exists())

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        remove_sqlite(self.path)


class PostgresStore:
    """A throwaway schema on the server, read by one connection per thread; dropped on
    close."""

    kind = "postgres"

    def __init__(self, server: str) -> None:
        self.server = server
        self.schema = f"overload_{uuid.uuid4().hex[:10]}"
        separator = "&" if "?" in server else "?"
        self.url = f"{server}{separator}schema={self.schema}&application_name={self.schema}"
        settings = pg_settings(server)
        self.durability = "PostgreSQL " + ", ".join(f"{k}={v}" for k, v in settings.items())
        self._local = threading.local()
        self._connections: list[Any] = []

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        import psycopg

        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = psycopg.connect(self.server, autocommit=True)
            connection.execute(f"SET search_path TO {self.schema}")
            self._local.connection = connection
            self._connections.append(connection)
        return connection.execute(query).fetchall()

    def size_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        import psycopg

        for connection in self._connections:
            connection.close()
        with psycopg.connect(self.server, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


Store = SqliteStore | PostgresStore


def counts(rows: Rows) -> tuple[dict[str, int], int, int]:
    """Instances by status, queued activity work, inbox messages."""
    statuses = rows("SELECT runtime_status, COUNT(*) FROM durably_instances GROUP BY 1")
    activities = rows("SELECT COUNT(*) FROM durably_activities")[0][0]
    inbox = rows("SELECT COUNT(*) FROM durably_inbox")[0][0]
    return {str(k): int(v) for k, v in statuses}, int(activities), int(inbox)


def last_update_micros(rows: Rows) -> int | None:
    value = rows("SELECT MAX(last_updated_time) FROM durably_instances")[0][0]
    return None if value is None else int(value)


@contextlib.contextmanager
def open_store(kind: str) -> Iterator[Store]:
    store: Store = SqliteStore() if kind == "sqlite" else PostgresStore(os.environ[PG_ENV])
    try:
        yield store
    finally:
        store.close()


# -- the worker processes ------------------------------------------------------------------
@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    ready_at: float = 0.0  # time.monotonic() when its ready line was seen
    ready_rss: float | None = None  # MiB then

    def status(self, field_name: str) -> int | None:
        """A field of ``/proc/PID/status`` (VmRSS and VmHWM in KiB, Threads); None once
        the process is gone."""
        try:
            with open(f"/proc/{self.process.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith(field_name + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def status_mib(self, field_name: str) -> float | None:
        kib = self.status(field_name)
        return None if kib is None else kib / 1024

    def cached(self) -> int | None:
        """The live orchestrations in its cache, from its last ``cached N`` line."""
        lines = [line for line in self.log.read_bytes().splitlines() if line.startswith(b"cached ")]
        return int(lines[-1].split()[1]) if lines else None

    def cpu_s(self) -> float | None:
        """User + system CPU seconds since the process started, from ``/proc/PID/stat``."""
        try:
            text = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn_workers(url: str, count: int, logs: Path) -> list[WorkerProcess]:
    """Start ``count`` workers; returns once each has printed its ready line."""
    workers = []
    for number in range(count):
        log = logs / f"worker-{number}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.overload_app", url],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        workers.append(WorkerProcess(process, log))
    deadline = time.monotonic() + 60
    waiting = list(workers)
    while waiting:  # all at once: the first one ready starts working at once
        for worker in [w for w in waiting if b"ready\n" in w.log.read_bytes()]:
            worker.ready_at, worker.ready_rss = time.monotonic(), worker.status_mib("VmRSS")
            waiting.remove(worker)
        for worker in waiting:
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not start: {worker.log.read_text()[-2000:]}")
        time.sleep(0.005)
    return workers


def stop_workers(workers: Sequence[WorkerProcess]) -> list[int | None]:
    """SIGTERM every worker; their exit codes (None: still running after 60 s, killed)."""
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for worker in workers:
        try:
            codes.append(worker.process.wait(60))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
            codes.append(None)
    return codes


# -- the burst -----------------------------------------------------------------------------
@dataclass
class Burst:
    """C client threads starting instances ``0..n-1`` (thread k takes k, k+C, ...)."""

    url: str
    instances: int
    clients: int
    started: list[int] = field(default_factory=list)  # per thread
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    began: float = 0.0  # time.monotonic() of the first start
    began_wall: float = 0.0  # the same as time.time(), to compare with the store's times
    ended: float = 0.0
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total_started(self) -> int:
        return sum(self.started)

    def start(self) -> None:
        self.started = [0] * self.clients
        clients = [durably.Client(self.url) for _ in range(self.clients)]
        self._threads = [
            threading.Thread(target=self._run, args=(k, client), name=f"client-{k}")
            for k, client in enumerate(clients)
        ]
        self.began, self.began_wall = time.monotonic(), time.time()
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        self.ended = time.monotonic()

    def _run(self, k: int, client: durably.Client) -> None:
        with client:
            for i in range(k, self.instances, self.clients):
                try:
                    client.start_new(ORCHESTRATOR, client_input=i)
                except Exception as error:  # a refusal is a figure, not a crash
                    line = str(error).partition("\n")[0]
                    with self._lock:
                        self.refused[f"{type(error).__name__}: {line}"] += 1
                    continue
                self.started[k] += 1


# -- sampling ------------------------------------------------------------------------------
class Sampler:
    """Samples RSS and backlog every second on a thread; prints progress to stderr."""

    def __init__(self, label: str, store: Store, workers: list[WorkerProcess]) -> None:
        self.label, self.store, self.workers = label, store, workers  # workers may come later
        self.samples: list[Sample] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.burst: Burst | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def take(self) -> Sample | None:
        burst = self.burst
        try:
            statuses, activities, inbox = counts(self.store.rows)
        except Exception as error:  # a busy store skips a sample; counted in the report
            self.errors[type(error).__name__] += 1
            return None
        sample = Sample(
            t=time.monotonic() - burst.began if burst and burst.began else 0.0,
            started=burst.total_started if burst else 0,
            statuses=statuses,
            activities=activities,
            inbox=inbox,
            rss=tuple(w.status_mib("VmRSS") for w in self.workers),
            threads=tuple(w.status("Threads") for w in self.workers),
            cached=tuple(w.cached() for w in self.workers),
        )
        self.samples.append(sample)
        return sample

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        last_progress = time.monotonic()
        while not self._stop.wait(SAMPLE_EVERY):
            sample = self.take()
            if sample is not None and time.monotonic() - last_progress >= PROGRESS_EVERY:
                last_progress = time.monotonic()
                print(progress_line(self.label, sample), file=sys.stderr, flush=True)


def progress_line(label: str, s: Sample) -> str:
    rss = "/".join(f"{r:.0f}" if r is not None else "-" for r in s.rss) or "-"
    cached = "/".join(str(c) for c in s.cached) or "-"
    return (
        f"  {label} {s.t:6.0f} s: {s.started:,} started, backlog {s.backlog:,}"
        f" (pending {s.count('Pending'):,}, running {s.count('Running'):,}),"
        f" {s.count(*FINISHED):,} finished, activity queue {s.activities:,},"
        f" worker RSS {rss} MiB, cached {cached}"
    )


# -- one run -------------------------------------------------------------------------------
def run(kind: str, args: argparse.Namespace) -> Outcome:
    """One run on a fresh store of ``kind``: workers, burst, drain, check."""
    logs = Path(tempfile.mkdtemp(prefix=f"durably-overload-{kind}-"))
    load_before = os.getloadavg()
    with open_store(kind) as store:
        outcome = Outcome(
            kind=kind,
            instances=args.instances,
            workers=args.workers,
            clients=args.clients,
            backlog_first=args.backlog_first,
            durability=store.durability,
            timeout=args.timeout,
        )
        workers: list[WorkerProcess] = []
        sampler = Sampler(kind, store, workers)
        try:
            _burst_and_drain(outcome, store, workers, sampler, logs)
        finally:
            sampler.stop()
            outcome.exit_codes = stop_workers(workers)
        outcome.samples, outcome.sample_errors = sampler.samples, sampler.errors
        outcome.completed_ok, outcome.other, outcome.wrong = verify(store.url)
    outcome.load = (load_before, os.getloadavg())
    if outcome.ok:
        shutil.rmtree(logs)
    else:
        print(f"  worker logs kept in {logs}", file=sys.stderr, flush=True)
    return outcome


def _burst_and_drain(
    o: Outcome, store: Store, workers: list[WorkerProcess], sampler: Sampler, logs: Path
) -> None:
    """Start the workers (before or after the burst), the burst, and wait for the drain."""
    if not o.backlog_first:
        workers += spawn_workers(store.url, o.workers, logs)
        time.sleep(SAMPLE_EVERY)
    burst = Burst(store.url, o.instances, o.clients)
    burst.start()  # the clients' stores exist (the schema too) from here on
    sampler.take()
    sampler.burst = burst
    sampler.start()
    burst.join()
    o.started, o.refused, o.burst_s = burst.total_started, burst.refused, burst.ended - burst.began
    if o.backlog_first:
        workers += spawn_workers(store.url, o.workers, logs)
        o.workers_ready_at = min(w.ready_at for w in workers) - burst.began
    o.ready_rss = [w.ready_rss for w in workers]
    o.done_at = wait_finished(store, burst, o.timeout)
    time.sleep(SETTLE)  # the workers' last "cached" lines then come after the last finish
    sampler.stop()
    sampler.take()  # the end: every instance finished (or the timeout passed)
    o.hwm = [w.status_mib("VmHWM") for w in workers]
    o.cpu = [w.cpu_s() for w in workers]
    o.size_bytes = store.size_bytes()  # before the workers close the store (and checkpoint)


def wait_finished(store: Store, burst: Burst, timeout: float) -> float | None:
    """Seconds from the first start to the last finish, once every started instance has
    finished; None if that takes longer than ``timeout`` seconds from the first start."""
    while True:
        statuses, _, _ = counts(store.rows)
        if sum(statuses.get(name, 0) for name in FINISHED) >= burst.total_started:
            last = last_update_micros(store.rows)
            return None if last is None else last / 1e6 - burst.began_wall
        if time.monotonic() - burst.began > timeout:
            return None
        time.sleep(0.25)


def verify(url: str) -> tuple[int, collections.Counter[str], list[str]]:
    """Every instance, page by page: how many Completed with the right output, the
    statuses of the others, and a few of them."""
    completed = durably.OrchestrationRuntimeStatus.Completed
    ok, other, wrong = 0, collections.Counter[str](), list[str]()
    with durably.Client(url) as client:
        token = None
        while True:
            page = client.list_instances(page_size=1000, continuation_token=token)
            for s in page.instances:
                if s.runtime_status == completed and s.output == expected(s.input_):
                    ok += 1
                    continue
                status = str(s.runtime_status)
                wrong_output = s.runtime_status == completed
                other[f"{status} with a wrong output" if wrong_output else status] += 1
                if len(wrong) < 5:
                    wrong.append(f"{s.instance_id}: {status}, output {s.output!r}")
            token = page.continuation_token
            if token is None:
                return ok, other, wrong


# -- the command line ----------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overload", description=__doc__)
    parser.add_argument("--store", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--clients", type=int, default=4, help="client threads starting")
    parser.add_argument(
        "--backlog-first", action="store_true", help="start the workers after the burst"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to finish")
    parser.add_argument("--out", type=Path, default=RESULTS / "overload.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = "python -m benchmarks.overload " + shlex.join(argv)
    about = machine.describe()
    failed = False
    for kind in args.store or ["sqlite"]:
        if kind == "postgres" and not os.environ.get(PG_ENV):
            print(f"postgres skipped: {PG_ENV} is not set", flush=True)
            continue
        print(f"overload on {kind}: {args.instances:,} instances", file=sys.stderr, flush=True)
        outcome = run(kind, args)
        text = markdown(outcome, command, about)
        print(text, flush=True)
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            out.write(f"\n<!-- {stamp} -->\n{text}")
        failed = failed or not outcome.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
