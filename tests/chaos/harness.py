"""The chaos run: a seeded workload, N worker processes, a fault injector, an oracle.

``python -m tests.chaos --store sqlite --instances 10000 --faults 1000`` (see ``--help``)
runs until at least that many instances have been started and that many faults injected,
waits for every instance to finish, stops the workers and checks everything. It prints
the seed first: ``--seed`` with it replays the same workload and the same fault sequence
(where the faults land depends on timing, so a timing-dependent bug may need a few runs).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as _dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import durably
from tests import pg
from tests.chaos import oracle
from tests.chaos.driver import Driver
from tests.chaos.faults import Injector, Workers
from tests.chaos.stores import PostgresTarget, SqliteTarget, Target, leftovers


@dataclass(frozen=True)
class Config:
    store: str  # "sqlite" or "postgres"
    instances: int
    faults: int
    seed: int
    workers: int = 4
    interval: float = 0.25  # mean seconds between faults
    max_in_flight: int = 200
    restarts: bool = False  # PostgreSQL server restarts among the faults
    stuck_after: float = 120.0  # an instance unfinished this long is reported stuck


@dataclass
class Report:
    config: Config
    seconds: float = 0.0
    instances: int = 0
    children: int = 0
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    not_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    store_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    store_error_samples: list[str] = field(default_factory=list)
    rewinds: int = 0
    problems: list[str] = field(default_factory=list)
    directory: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def markdown(self) -> str:
        c = self.config
        verdict = "PASS" if self.ok else f"FAIL: {len(self.problems)} problems"
        lines = [
            f"### chaos on {c.store}, seed {c.seed}: {verdict}",
            "",
            f"Command: `python -m tests.chaos --store {c.store} --instances {c.instances}"
            f" --faults {c.faults} --seed {c.seed} --workers {c.workers}"
            f" --interval {c.interval}{' --restarts' if c.restarts else ''}`",
            "",
            f"- {self.instances} instances started by the driver and"
            f" {self.children} sub-orchestrations, in {self.seconds:.0f} s,"
            f" {c.workers} worker processes",
            f"- instances by kind: {_counts(self.kinds)}",
            f"- {sum(self.faults.values())} faults injected: {_counts(self.faults)}",
            f"- rewinds from the client: {self.rewinds}",
        ]
        if self.not_injected:
            lines.append(f"- faults that could not be injected: {_counts(self.not_injected)}")
        if self.store_errors:
            lines.append(f"- client calls that met a StoreError: {_counts(self.store_errors)}")
            lines += [f"  - {sample}" for sample in self.store_error_samples]
        lines.append(f"- problems: {len(self.problems)}")
        lines += [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  - ... and {len(self.problems) - 50} more")
        if self.directory and not self.ok:
            lines.append(f"- run directory (logs, database): {self.directory}")
        return "\n".join(lines) + "\n"


def _counts(counter: collections.Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counter.most_common()) or "none"


@contextlib.contextmanager
def _target(config: Config, directory: Path) -> Iterator[Target]:
    target: Target
    if config.store == "sqlite":
        target = SqliteTarget(directory / "chaos.db")
    elif config.store == "postgres":
        target = PostgresTarget(os.environ[pg.POSTGRES_ENV], restarts=config.restarts)
    else:
        raise ValueError(f"unknown store {config.store!r}: sqlite or postgres")
    try:
        yield target
    finally:
        target.close()


def run(config: Config, directory: Path, progress: bool = True) -> Report:
    """One chaos run in ``directory`` (logs, markers, the SQLite file)."""
    report = Report(config, directory=str(directory))
    markers, logs = directory / "markers", directory / "logs"
    markers.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    began = time.monotonic()
    with _target(config, directory) as target:
        workers = Workers(target, config.workers, logs)
        injector = Injector(workers, target, config.seed, config.interval)
        try:
            workers.start()
            with durably.Client(target.client_url()) as client:
                driver = Driver(client, config.seed, markers, config.max_in_flight)
                injector.start()
                _drive(config, driver, injector, workers, progress)
                injector.stop()
                _quiesce(target)
                report.problems += workers.stop()
                report.problems += driver.problems
                report.problems += oracle.check(client, driver.finished, driver.resent)
                report.problems += oracle.check_store(target, driver.finished + driver.stuck)
                target.keep = not report.ok  # for a look at what went wrong
        finally:
            injector.stop()
            workers.kill_all()
        report.seconds = time.monotonic() - began
        report.instances = driver.started
        report.children = sum(len(s.children) for s in driver.finished)
        report.kinds.update(s.kind for s in driver.finished)
        report.faults, report.not_injected = injector.counts, injector.failed
        report.store_errors, report.rewinds = driver.store_errors, driver.rewinds
        report.store_error_samples = driver.store_error_samples[:5]
        (directory / "faults.log").write_text("\n".join(injector.log) + "\n")
    return report


def _drive(
    config: Config, driver: Driver, injector: Injector, workers: Workers, progress: bool
) -> None:
    """Start and steer the workload until both targets are met and everything finished."""
    last_report = time.monotonic()
    while True:
        targets_met = driver.started >= config.instances and injector.total >= config.faults
        if not targets_met:  # keep instances coming until enough faults have landed too
            driver.fill(max(config.instances, driver.started + config.max_in_flight))
        driver.steer()
        driver.poll()
        workers.check()
        now = time.monotonic()
        for instance_id, flight in list(driver.in_flight.items()):
            if now - flight.started > config.stuck_after:
                driver.problems.append(
                    f"{instance_id}: stuck, unfinished after {config.stuck_after} s"
                )
                driver.stuck.append(driver.in_flight.pop(instance_id).spec)
        if targets_met and not driver.in_flight:
            return
        if progress and now - last_report >= 5.0:
            last_report = now
            print(
                f"  {config.store}: {driver.started} started, {len(driver.finished)} finished,"
                f" {injector.total} faults ({_counts(injector.counts)})",
                file=sys.stderr,
                flush=True,
            )
        time.sleep(0.05)


def _quiesce(target: Target, timeout: float = 60.0) -> None:
    """Give the workers time to drain what finished instances still receive (a child's
    result reaching a terminated parent is consumed and dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rest = leftovers(target)
        if not rest["activity requests"] and not rest["inbox messages"]:
            return
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--store", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.25, help="mean seconds between faults")
    parser.add_argument("--restarts", action="store_true", help="restart the PostgreSQL server too")
    parser.add_argument("--out", type=Path, help="append the report (markdown) to this file")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"chaos seed {seed}", flush=True)
    failed = False
    for store in args.store or ["sqlite"]:
        if store == "postgres" and not os.environ.get(pg.POSTGRES_ENV):
            print(f"postgres skipped: {pg.POSTGRES_ENV} is not set", flush=True)
            continue
        config = Config(
            store, args.instances, args.faults, seed, args.workers, args.interval,
            restarts=args.restarts,
        )  # fmt: skip
        directory = Path(tempfile.mkdtemp(prefix=f"durably-chaos-{store}-"))
        report = run(config, directory)
        text = report.markdown()
        print(text, flush=True)
        if args.out:
            stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC") + _commit()
            with args.out.open("a") as out:
                out.write(f"\n<!-- {stamp} -->\n{text}")
        if report.ok:
            shutil.rmtree(directory)
        failed = failed or not report.ok
    return 1 if failed else 0


def _commit() -> str:
    """`` at <commit>`` of the checkout the run used, or nothing outside git."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" at {found.stdout.strip()}"
