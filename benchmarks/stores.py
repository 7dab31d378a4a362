"""Fresh, empty stores for every workload run, so runs are independent.

SQLite: a new file under ``benchmarks/.scratch/`` (on the same disk as the project, not a
tmpfs). durably sets WAL itself; DBOS sets no journal mode, so its file is switched to WAL
before DBOS opens it (the mode is persistent in the file), as dbos_bench.py does with
``--sqlite-journal wal``: both systems then run WAL with ``synchronous=FULL``.
PostgreSQL: a database dropped and created again before each run.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SCRATCH = Path(__file__).resolve().parent / ".scratch"
PG_DATABASES = {"durably": "durably_bench", "dbos": "dbos_bench"}


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSpec:
    """Where a run's data lives: ``kind`` is sqlite, postgres or memory."""

    kind: str
    synchronous: str = "FULL"
    pg_url: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite-{self.synchronous.lower()}" if self.synchronous != "FULL" else "sqlite"
        return self.kind

    def fresh(self, system: str, tag: str) -> str:
        """An empty store for one run of ``system``; returns its URL."""
        if self.kind == "memory":
            return "memory://"
        if self.kind == "postgres":
            assert self.pg_url is not None
            return recreate_pg_database(self.pg_url, PG_DATABASES[system], create=system != "dbos")
        return fresh_sqlite(system, tag, self.synchronous)

    def durability(self, system: str) -> str:
        """The durability setting a run of ``system`` on this store has, in words."""
        if self.kind == "memory":
            return "in memory (not durable; smoke tests only)"
        if self.kind == "postgres":
            assert self.pg_url is not None
            settings = pg_settings(self.pg_url)
            return "PostgreSQL " + ", ".join(f"{k}={v}" for k, v in settings.items())
        if system == "dbos":
            return "SQLite WAL, synchronous=FULL (DBOS has no setting for it)"
        return f"SQLite WAL, synchronous={self.synchronous}"


def fresh_sqlite(system: str, tag: str, synchronous: str) -> str:
    SCRATCH.mkdir(exist_ok=True)
    path = SCRATCH / f"{system}-{tag}.db"
    remove_sqlite(path)
    if system == "dbos":
        connection = sqlite3.connect(path)
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        connection.close()
        if mode != "wal":
            raise RuntimeError(f"cannot set WAL on {path}: {mode}")
        return f"sqlite:///{path}"
    query = "" if synchronous == "FULL" else f"?synchronous={synchronous}"
    return f"sqlite:///{path}{query}"


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sqlite_path(url: str) -> Path:
    return Path(urlsplit(url).path[1:])


def journal_mode(url: str) -> str | None:
    """The journal mode recorded in a SQLite store file (after a run), or None."""
    path = sqlite_path(url)
    if not path.exists():
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        connection.close()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def recreate_pg_database(url: str, database: str, *, create: bool = True) -> str:
    """Drop ``database`` on the server of ``url`` and (unless DBOS makes it itself) create
    it empty; returns the URL of the new database."""
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{database}"')
    return with_database(url, database)


@functools.cache
def pg_settings(url: str) -> dict[str, str]:
    """The server settings that decide what a commit survives."""
    import psycopg

    names = ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        return {n: str(connection.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]


def pg_server_version(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception as exc:  # informative only: the table says why it is missing
        return f"unavailable ({type(exc).__name__})"
