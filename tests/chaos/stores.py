"""The stores a chaos run targets, and the faults only a store can suffer.

Both read durably's tables directly for the oracle's "nothing left behind" checks: what a
user would see in the database after every instance finished and every worker stopped.
"""

from __future__ import annotations

import contextlib
import glob
import random
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tests import pg

_LEFTOVERS = {
    "activity requests": "SELECT instance_id, name FROM durably_activities",
    "inbox messages": "SELECT instance_id, event FROM durably_inbox",
    # A killed worker's lease stays written on its row until it runs out: harmless then.
    "live leases": "SELECT instance_id, lock_owner FROM durably_instances"
    " WHERE lock_expires > {now}",
}


class Target(Protocol):
    name: str
    keep: bool  # keep the store's data after the run (for a look at a failure)
    fault_kinds: dict[str, int]  # the store's own faults, with their weights

    def worker_url(self, number: int) -> str: ...
    def client_url(self) -> str: ...
    def inject(self, kind: str, rng: random.Random) -> str:
        """Inject one fault of the store's own kinds; returns what was done."""
        ...

    def rows(self, query: str) -> list[tuple[Any, ...]]: ...
    def close(self) -> None: ...


def leftovers(target: Target) -> dict[str, list[tuple[Any, ...]]]:
    """Work, messages and leases the store still holds (each should be empty)."""
    now = int(time.time() * 1_000_000)
    return {what: target.rows(query.format(now=now)) for what, query in _LEFTOVERS.items()}


def instance_ids(target: Target) -> set[str]:
    return {row[0] for row in target.rows("SELECT instance_id FROM durably_instances")}


@dataclass
class SqliteTarget:
    """A SQLite file; its own fault holds the write lock for a while (a backup tool, a
    long migration, another application on the same file)."""

    path: Path
    name: str = "sqlite"
    keep: bool = False  # the file is kept anyway, in the run directory

    def __post_init__(self) -> None:
        self.fault_kinds = {"write-lock": 15}
        self._lock_holders: list[threading.Thread] = []

    def worker_url(self, number: int) -> str:
        return f"sqlite:///{self.path}"

    def client_url(self) -> str:
        return f"sqlite:///{self.path}"

    def inject(self, kind: str, rng: random.Random) -> str:
        assert kind == "write-lock", kind
        if any(holder.is_alive() for holder in self._lock_holders):
            raise RuntimeError("the write lock is held already")  # holds never overlap
        seconds = rng.uniform(0.1, 1.0)
        holder = threading.Thread(target=self._hold_lock, args=(seconds,), daemon=True)
        holder.start()
        self._lock_holders.append(holder)
        return f"write lock held {seconds:.1f} s"

    def _hold_lock(self, seconds: float) -> None:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            time.sleep(seconds)
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as connection:
            return connection.execute(query).fetchall()

    def close(self) -> None:
        for holder in self._lock_holders:
            holder.join()


@dataclass
class PostgresTarget:
    """A throwaway schema on the test server. Its own faults: the server ends every
    connection of the run (``cut-all``: a failover, a proxy restart) or one worker's
    (``cut-one``), and, when ``restarts`` is on, the server itself restarts."""

    server: str
    restarts: bool = False
    name: str = "postgres"

    def __post_init__(self) -> None:
        self.schema = f"chaos_{uuid.uuid4().hex[:10]}"
        self.keep = False
        self.app_name = f"durably-chaos-{uuid.uuid4().hex[:6]}"
        self.fault_kinds = {"cut-all": 12, "cut-one": 20}
        if self.restarts:
            self.fault_kinds["server-restart"] = 1

    def _url(self, role: str) -> str:
        return pg.with_query(
            self.server, schema=self.schema, application_name=f"{self.app_name}-{role}"
        )

    def worker_url(self, number: int) -> str:
        return self._url(f"w{number:04d}")  # no worker's name is a prefix of another's

    def client_url(self) -> str:
        return self._url("driver")

    def inject(self, kind: str, rng: random.Random) -> str:
        if kind == "cut-all":
            return f"{pg.terminate(self.server, self.app_name, wait=False)} connections cut"
        if kind == "cut-one":
            prefix = f"{self.app_name}-"
            names = pg.connections(self.server, prefix + "w")
            workers = sorted({n.removeprefix(prefix).split("-")[0] for n in names})
            if not workers:
                return "no worker connection to cut"
            victim = prefix + rng.choice(workers)
            cut = pg.terminate(self.server, victim, wait=False)
            return f"{cut} connections of {victim} cut"
        assert kind == "server-restart", kind
        started = time.monotonic()
        restart_server()
        return f"server restarted in {time.monotonic() - started:.1f} s"

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with pg.admin(self.server) as connection:
            connection.execute(f"SET search_path TO {self.schema}")
            return connection.execute(query).fetchall()

    def close(self) -> None:
        if self.keep:
            print(f"schema {self.schema} kept for a look", flush=True)
            return
        with pg.admin(self.server) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def restart_server() -> None:
    """Restart the local PostgreSQL cluster (the machine's only one) and wait for it."""
    versions = [Path(p).name for p in glob.glob("/etc/postgresql/*")]
    if len(versions) != 1:
        raise RuntimeError(f"expected one PostgreSQL cluster in /etc/postgresql, found {versions}")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextlib.contextmanager
def sqlite_target(directory: Path) -> Iterator[SqliteTarget]:
    target = SqliteTarget(directory / "chaos.db")
    try:
        yield target
    finally:
        target.close()
