"""The schema of the SQL stores: versioned scripts under ``schema/``, applied in order.

Each database has its own list of scripts (their numbers order them all), and a store's
version is how many of its database's scripts it has: a script that only one database
needs does not change the version of the others. A script is plain SQL:
each statement ends with ``;`` at the end of a line, comment lines start with ``--``,
function bodies are quoted with ``$$``, and there is no ``%`` (the statements run
through the driver's parameter handling).
"""

from __future__ import annotations

import importlib.resources

from durably.backends.sql.dialect import Dialect
from durably.backends.sql.tx import Tx
from durably.errors import StoreError

MIGRATIONS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "0001_initial.sql",
        "0003_delivery_count.sql",
        "0004_input_once.sql",
        "0005_version.sql",
        "0006_waiting.sql",
        "0007_trace_context.sql",
    ),
    "postgresql": (
        "0001_initial.sql",
        "0002_refusal.sql",
        "0003_delivery_count.sql",
        "0004_input_once.sql",
        "0005_version.sql",
        "0006_waiting.sql",
        "0007_trace_context.sql",
    ),
}
"""Each database's schema scripts, in order."""


def migrations(dialect: Dialect) -> tuple[str, ...]:
    """The schema scripts of ``dialect``'s database, in order."""
    return MIGRATIONS[dialect.name]


def version(tx: Tx) -> int:
    """The store's schema version (0 for an empty store)."""
    row = tx.one("SELECT MAX(version) FROM durably_schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def migrate(tx: Tx) -> None:
    """Bring the schema up to date (call inside a write transaction that serialises migrators).

    Raises ``StoreError`` if the store was made by a newer durably.
    """
    scripts = migrations(tx.dialect)
    tx.execute("CREATE TABLE IF NOT EXISTS durably_schema_version (version INTEGER NOT NULL)")
    current = version(tx)
    if current > len(scripts):
        raise StoreError(
            f"the store's schema version is {current} but this durably knows only "
            f"{len(scripts)}: upgrade durably"
        )
    for number in range(current + 1, len(scripts) + 1):
        for statement in statements(scripts[number - 1], tx.dialect):
            tx.cursor.execute(statement, ())
        tx.execute("INSERT INTO durably_schema_version (version) VALUES (?)", number)


def statements(script: str, dialect: Dialect) -> list[str]:
    """The statements of one schema script, for ``dialect`` (see the module docstring)."""
    path = importlib.resources.files("durably.backends.sql").joinpath("schema", script)
    text = path.read_text().replace("{id_primary_key}", dialect.id_primary_key)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
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
