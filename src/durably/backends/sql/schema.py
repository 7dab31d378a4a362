"""The schema of the SQL stores: versioned scripts under ``schema/``, applied in order."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass

from durably.backends.sql.dialect import Dialect
from durably.backends.sql.tx import Tx
from durably.errors import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema script; ``dialects`` names the databases it applies to (None: all).
    A database it does not apply to records the version and runs nothing."""

    script: str
    dialects: frozenset[str] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial.sql"),
    Migration("0002_refusal.sql", frozenset({"postgresql"})),
)
"""Schema scripts in order; the store's version is the number of scripts applied."""


def version(tx: Tx) -> int:
    """The store's schema version (0 for an empty store)."""
    row = tx.one("SELECT MAX(version) FROM durably_schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def migrate(tx: Tx) -> None:
    """Bring the schema up to date (call inside a write transaction that serialises migrators).

    Raises ``StoreError`` if the store was made by a newer durably.
    """
    tx.execute("CREATE TABLE IF NOT EXISTS durably_schema_version (version INTEGER NOT NULL)")
    current = version(tx)
    if current > len(MIGRATIONS):
        raise StoreError(
            f"the store's schema version is {current} but this durably knows only "
            f"{len(MIGRATIONS)}: upgrade durably"
        )
    for number in range(current + 1, len(MIGRATIONS) + 1):
        migration = MIGRATIONS[number - 1]
        if migration.dialects is None or tx.dialect.name in migration.dialects:
            for statement in statements(migration.script, tx.dialect):
                tx.cursor.execute(statement, ())
        tx.execute("INSERT INTO durably_schema_version (version) VALUES (?)", number)


def statements(script: str, dialect: Dialect) -> list[str]:
    """The statements of one schema script, for ``dialect``: split at each ``;`` that
    ends a line outside a ``$$``-quoted function body."""
    text = importlib.resources.files("durably.backends.sql").joinpath("schema", script)
    lines = [
        line
        for line in text.read_text()
        .replace("{id_primary_key}", dialect.id_primary_key)
        .splitlines()
        if not line.lstrip().startswith("--")
    ]
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for line in lines:
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            out.append("\n".join(current).strip().removesuffix(";"))
            current = []
    rest = "\n".join(current).strip()
    return [*out, rest] if rest else out
