"""Worker processes and the fault injector that kills, stops and pauses them.

Process faults, on every store: ``sigkill`` (a crash, the OOM killer), ``sigterm`` (a
deploy: the worker must stop cleanly, exit 0, within its stop timeout) and ``pause``
(SIGSTOP for longer than a lease, then SIGCONT: a VM freeze or a long GC pause, after
which the worker finds its leases taken over and must not commit stale work). A killed
or stopped worker is replaced at once, as a supervisor would. The store's own faults
come from its :class:`~tests.chaos.stores.Target`.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.app import LEASE_SECONDS
from tests.chaos.stores import Target

ROOT = Path(__file__).resolve().parents[2]
PROCESS_FAULTS = {"sigkill": 30, "sigterm": 15, "pause": 12}


@dataclass
class Worker:
    number: int
    process: subprocess.Popen[bytes]
    fate: str = ""  # the fault that ended it, if any


@dataclass
class Workers:
    """``count`` worker processes on the target, each logging to its own file."""

    target: Target
    count: int
    logs: Path
    live: list[Worker] = field(default_factory=list)
    ended: list[Worker] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)  # exits nobody caused
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for _ in range(self.count):
            self._spawn()

    def _spawn(self) -> Worker:
        self._next += 1
        log = (self.logs / f"worker-{self._next:04d}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.app", self.target.worker_url(self._next)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        log.close()
        worker = Worker(self._next, process)
        self.live.append(worker)
        return worker

    def replace(self, worker: Worker, fate: str) -> None:
        """Count ``worker`` as ended by ``fate`` and start its replacement."""
        with self._lock:
            worker.fate = fate
            self.live.remove(worker)
            self.ended.append(worker)
            self._spawn()

    def check(self) -> None:
        """Replace live workers that exited on their own, noting each as a surprise."""
        with self._lock:
            for worker in [w for w in self.live if w.process.poll() is not None]:
                self.surprises.append(
                    f"worker {worker.number} exited with {worker.process.returncode} unprompted"
                )
                self.live.remove(worker)
                self.ended.append(worker)
                self._spawn()

    def stop(self, timeout: float = 60.0) -> list[str]:
        """SIGTERM every worker, live or ending; the problems seen (exit codes)."""
        with self._lock:
            live, self.live = self.live, []
        for worker in live:
            worker.process.send_signal(signal.SIGTERM)
        problems = []
        for worker in live:
            code = _wait(worker.process, timeout)
            if code != 0 and not (code == -signal.SIGTERM and not self._was_ready(worker)):
                problems.append(f"worker {worker.number} exited with {code} at the final stop")
        for worker in self.ended:
            code = _wait(worker.process, timeout)
            # Before it is ready a worker holds nothing and dies of SIGTERM as any process.
            early = code == -signal.SIGTERM and not self._was_ready(worker)
            if worker.fate == "sigterm" and code != 0 and not early:
                problems.append(f"worker {worker.number} exited with {code} after SIGTERM")
        return problems + self.surprises

    def _was_ready(self, worker: Worker) -> bool:
        log = self.logs / f"worker-{worker.number:04d}.log"
        return b" ready" in log.read_bytes()

    def kill_all(self) -> None:
        for worker in self.live + self.ended:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()


def _wait(process: subprocess.Popen[bytes], timeout: float) -> int | str:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"nothing (still running after {timeout:.0f} s: killed)"


@dataclass
class Injector:
    """A thread that injects a fault every ``interval`` seconds on average (exponential
    gaps), choosing kinds and victims with a seeded generator."""

    workers: Workers
    target: Target
    seed: int
    interval: float
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"faults:{self.seed}")
        self._kinds = {**PROCESS_FAULTS, **self.target.fault_kinds}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self._paused: dict[int, tuple[Worker, threading.Timer]] = {}

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting; paused workers are continued at once."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        for victim, timer in list(self._paused.values()):
            timer.cancel()
            self._unpause(victim)

    def _run(self) -> None:
        rng = self._rng
        while not self._stopping.wait(rng.expovariate(1 / self.interval)):
            kind = rng.choices(list(self._kinds), weights=list(self._kinds.values()))[0]
            began = time.monotonic()
            try:
                what = self._inject(kind)
            except Exception as error:  # a fault that could not be injected is only counted
                self.failed[kind] += 1
                what = f"could not inject: {error!r}"
            else:
                self.counts[kind] += 1
            took = time.monotonic() - began
            what += f" (took {took:.1f} s)" if took >= 0.1 else ""
            self.log.append(f"{began - self._started:8.2f} s  {kind}: {what}")

    def _inject(self, kind: str) -> str:
        if kind not in PROCESS_FAULTS:
            return self.target.inject(kind, self._rng)
        self.workers.check()
        candidates = [w for w in self.workers.live if w.number not in self._paused]
        if not candidates:
            raise RuntimeError("every worker is paused")
        victim = self._rng.choice(candidates)
        if kind == "pause":
            seconds = self._rng.uniform(0.5, 2.5) * LEASE_SECONDS
            timer = threading.Timer(seconds, self._unpause, (victim,))
            self._paused[victim.number] = victim, timer
            victim.process.send_signal(signal.SIGSTOP)
            timer.start()
            return f"worker {victim.number} paused for {seconds:.1f} s"
        victim.process.send_signal(signal.SIGKILL if kind == "sigkill" else signal.SIGTERM)
        self.workers.replace(victim, kind)
        return f"worker {victim.number}"

    def _unpause(self, victim: Worker) -> None:
        victim.process.send_signal(signal.SIGCONT)
        self._paused.pop(victim.number, None)
