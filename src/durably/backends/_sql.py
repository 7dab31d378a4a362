"""What every SQL backend shares: the dialect knobs, the transaction wrapper, the statements.

Statements are written once, in the SQL that SQLite and PostgreSQL agree on, with ``?``
placeholders and two slots a :class:`Dialect` fills: ``{for_update}`` (row locks on rows
a transaction will change: empty in SQLite, whose write transactions hold the database
lock) and ``{skip_locked}`` (competing consumers). The operations built from them live in
:mod:`durably.backends._sql_ops`; the Backend methods in :mod:`durably.backends._sql_backend`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from durably.backends.base import WorkKind
from durably.errors import StoreError


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """The few things that differ between the SQL databases durably supports."""

    name: str
    param: str = "?"
    """The driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg)."""
    id_primary_key: str
    """DDL of an auto-increment integer primary key column."""
    for_update: str = ""
    """Appended to selects of rows the transaction then updates."""
    skip_locked: str = ""
    """Appended to the selects that pick work, so competing workers pass each other by;
    those selects alias the row to lock ``w`` (PostgreSQL: ``FOR UPDATE OF w SKIP LOCKED``)."""

    def render(self, template: str) -> str:
        """The statement for this database."""
        return _render(self, template)


@functools.cache
def _render(dialect: Dialect, template: str) -> str:
    # Our statements contain no literal '?' and no '%', so plain replacement is safe.
    return (
        template.replace("{for_update}", dialect.for_update)
        .replace("{skip_locked}", dialect.skip_locked)
        .replace("?", dialect.param)
    )


SQLITE = Dialect(name="sqlite", id_primary_key="INTEGER PRIMARY KEY AUTOINCREMENT")


class Cursor(Protocol):
    """The DB-API subset the shared code uses (sqlite3 and psycopg cursors have it)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any], /) -> Any: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(slots=True)
class Tx:
    """One open transaction: a cursor, its dialect, the task hub, and pending wake-ups.

    ``notes`` are delivered to waiters only after the transaction committed, so a woken
    waiter always sees what woke it.
    """

    cursor: Cursor
    dialect: Dialect
    hub: str
    notes: list[tuple[WorkKind, _dt.datetime | None]] = field(default_factory=list)

    def execute(self, template: str, *params: Any) -> int:
        """Run a statement; the number of rows it changed."""
        self.cursor.execute(self.dialect.render(template), params)
        return self.cursor.rowcount

    def executemany(self, template: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.dialect.render(template), rows)

    def one(self, template: str, *params: Any) -> tuple[Any, ...] | None:
        self.cursor.execute(self.dialect.render(template), params)
        row = self.cursor.fetchone()
        return tuple(row) if row is not None else None

    def all(self, template: str, *params: Any) -> list[tuple[Any, ...]]:
        self.cursor.execute(self.dialect.render(template), params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def notify(self, kind: WorkKind, visible_at: _dt.datetime | None = None) -> None:
        self.notes.append((kind, visible_at))


# -- schema ------------------------------------------------------------------------

MIGRATIONS: tuple[str, ...] = ("0001_initial.sql",)
"""Schema scripts in order; the store's version is the number of scripts applied."""


def migrate(tx: Tx) -> None:
    """Bring the schema up to date (call inside a write transaction that serialises migrators)."""
    tx.execute("CREATE TABLE IF NOT EXISTS durably_schema_version (version INTEGER NOT NULL)")
    row = tx.one("SELECT MAX(version) FROM durably_schema_version")
    current = int(row[0]) if row and row[0] is not None else 0
    if current > len(MIGRATIONS):
        raise StoreError(
            f"the store's schema version is {current} but this durably knows only "
            f"{len(MIGRATIONS)}: upgrade durably"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        for statement in schema_statements(MIGRATIONS[version - 1], tx.dialect):
            tx.cursor.execute(statement, ())
        tx.execute("INSERT INTO durably_schema_version (version) VALUES (?)", version)


def schema_statements(script: str, dialect: Dialect) -> list[str]:
    """The statements of one schema script, for ``dialect``."""
    text = importlib.resources.files("durably.backends").joinpath("schema", script).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines).replace("{id_primary_key}", dialect.id_primary_key)
    return [part.strip() for part in text.split(";") if part.strip()]


# -- statements --------------------------------------------------------------------

INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, runtime_status, input, output, custom_status, "
    "created_time, last_updated_time, parent_instance_id, history_length"
)

SELECT_INSTANCE = (
    f"SELECT {INSTANCE_COLUMNS} FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
)
SELECT_STATUS = (
    "SELECT runtime_status FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
    "{for_update}"
)
INSTANCE_EXISTS = "SELECT 1 FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
INSERT_INSTANCE = (
    "INSERT INTO durably_instances (task_hub, instance_id, name, execution_id, runtime_status,"
    " input, created_time, last_updated_time, parent_instance_id, history_length)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (task_hub, instance_id) DO NOTHING"
)
SELECT_LOCKED_LENGTH = (
    "SELECT history_length FROM durably_instances"
    " WHERE task_hub = ? AND instance_id = ? AND lock_token = ?{for_update}"
)
UPDATE_AFTER_EPISODE = (
    "UPDATE durably_instances SET name = ?, execution_id = ?, runtime_status = ?, input = ?,"
    " output = ?, custom_status = ?, last_updated_time = ?, history_length = ?,"
    " lock_owner = NULL, lock_token = NULL, lock_expires = NULL"
    " WHERE task_hub = ? AND instance_id = ?"
)
LOCK_CANDIDATES = (
    "SELECT m.instance_id FROM durably_inbox m JOIN durably_instances w"
    " ON w.task_hub = m.task_hub AND w.instance_id = m.instance_id"
    " WHERE m.task_hub = ? AND m.visible_at <= ?"
    " AND (w.lock_expires IS NULL OR w.lock_expires <= ?)"
    " ORDER BY m.visible_at, m.id LIMIT ?{skip_locked}"
)
LOCK_INSTANCE = (
    "UPDATE durably_instances SET lock_owner = ?, lock_token = ?, lock_expires = ?"
    " WHERE task_hub = ? AND instance_id = ? AND (lock_expires IS NULL OR lock_expires <= ?)"
)
RENEW_INSTANCE = (
    "UPDATE durably_instances SET lock_expires = ?"
    " WHERE task_hub = ? AND instance_id = ? AND lock_token = ?"
)
RELEASE_INSTANCE = (
    "UPDATE durably_instances SET lock_owner = NULL, lock_token = NULL, lock_expires = NULL"
    " WHERE task_hub = ? AND instance_id = ? AND lock_token = ?"
)
DELETE_INSTANCE = "DELETE FROM durably_instances WHERE task_hub = ? AND instance_id = ?"

SELECT_HISTORY = (
    "SELECT event FROM durably_history WHERE task_hub = ? AND instance_id = ? ORDER BY sequence"
)
INSERT_HISTORY = (
    "INSERT INTO durably_history (task_hub, instance_id, sequence, event) VALUES (?, ?, ?, ?)"
)
DELETE_HISTORY = "DELETE FROM durably_history WHERE task_hub = ? AND instance_id = ?"

INSERT_MESSAGE = (
    "INSERT INTO durably_inbox (task_hub, instance_id, execution_id, visible_at, event)"
    " VALUES (?, ?, ?, ?, ?)"
)
SELECT_VISIBLE_MESSAGES = (
    "SELECT id, execution_id, event FROM durably_inbox"
    " WHERE task_hub = ? AND instance_id = ? AND visible_at <= ? ORDER BY id"
)
DELETE_MESSAGE = "DELETE FROM durably_inbox WHERE task_hub = ? AND instance_id = ? AND id = ?"
DELETE_INBOX = "DELETE FROM durably_inbox WHERE task_hub = ? AND instance_id = ?"

INSERT_ACTIVITY = (
    "INSERT INTO durably_activities (task_hub, instance_id, execution_id, task_id, name, input,"
    " visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ACTIVITY_CANDIDATES = (
    "SELECT w.id FROM durably_activities w WHERE w.task_hub = ? AND w.visible_at <= ?"
    " AND (w.lock_expires IS NULL OR w.lock_expires <= ?)"
    " ORDER BY w.visible_at, w.id LIMIT ?{skip_locked}"
)
LOCK_ACTIVITY = (
    "UPDATE durably_activities SET lock_owner = ?, lock_token = ?, lock_expires = ?,"
    " visible_at = ?, dequeue_count = dequeue_count + 1"
    " WHERE task_hub = ? AND id = ? AND (lock_expires IS NULL OR lock_expires <= ?)"
)
SELECT_ACTIVITY = (
    "SELECT id, instance_id, execution_id, task_id, name, input, dequeue_count"
    " FROM durably_activities WHERE task_hub = ? AND id = ?"
)
RENEW_ACTIVITY = (
    "UPDATE durably_activities SET lock_expires = ?, visible_at = ?"
    " WHERE task_hub = ? AND id = ? AND lock_token = ?"
)
ABANDON_ACTIVITY = (
    "UPDATE durably_activities SET lock_owner = NULL, lock_token = NULL, lock_expires = NULL,"
    " visible_at = ? WHERE task_hub = ? AND id = ? AND lock_token = ?"
)
DELETE_LOCKED_ACTIVITY = (
    "DELETE FROM durably_activities WHERE task_hub = ? AND id = ? AND lock_token = ?"
)
DELETE_ACTIVITIES = "DELETE FROM durably_activities WHERE task_hub = ? AND instance_id = ?"
