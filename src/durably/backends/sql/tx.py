"""Tx: one open transaction of a SQL store, and what it owes the waiters once committed."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from durably.backends.base import OrchestrationCommit, WorkKind
from durably.backends.sql.dialect import Answer, Cursor, Dialect


@dataclass(slots=True)
class Tx:
    """A cursor inside one transaction, its dialect, the task hub, and pending wake-ups.

    ``notes`` are delivered to waiters only after the transaction committed, so a woken
    waiter always sees what woke it. Writes whose results nobody reads
    (:meth:`executemany`) wait in ``writes`` until the next statement or :meth:`flush`.
    """

    cursor: Cursor
    dialect: Dialect
    hub: str
    notes: list[tuple[WorkKind, _dt.datetime | None]] = field(default_factory=list)
    writes: dict[str, list[Sequence[Any]]] = field(default_factory=dict)
    created: int = 0
    """Instances this transaction created."""
    finished: list[OrchestrationCommit] = field(default_factory=list)
    """Commits that brought their instance to a terminal status (for status watches)."""
    entities: set[str] = field(default_factory=set)
    """Entity rows this transaction made sure of (created or found, guarded)."""

    def execute(self, template: str, *params: Any) -> int:
        """Run a statement; the number of rows it changed."""
        self.flush()
        self.cursor.execute(self.dialect.render(template), params)
        return self.cursor.rowcount

    def executemany(self, template: str, rows: Sequence[Sequence[Any]]) -> None:
        """Queue writes whose results nobody reads. They are sent, grouped by statement
        (a batch of episodes' history rows is one executemany), before the next
        statement of this transaction or at its end: never reordered past a read."""
        if rows:
            queued = self.writes.get(template)
            if queued is None:
                self.writes[template] = list(rows)
            else:
                queued.extend(rows)

    def flush(self) -> None:
        """Send the queued writes."""
        if self.writes:
            writes, self.writes = self.writes, {}
            for template, rows in writes.items():
                self.cursor.executemany(self.dialect.render(template), rows)

    def one(self, template: str, *params: Any) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        self.flush()
        self.cursor.execute(self.dialect.render(template), params)
        row = self.cursor.fetchone()
        return tuple(row) if row is not None else None

    def all(self, template: str, *params: Any) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        self.flush()
        self.cursor.execute(self.dialect.render(template), params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def together(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Run queries together (see :meth:`Cursor.run_together`); each one's rows."""
        if not queries:
            return []
        self.flush()
        rendered = [(self.dialect.render(template), params) for template, params in queries]
        return [[tuple(row) for row in rows] for rows in self.cursor.run_together(rendered)]

    def write_or_refuse(self, template: str, *params: Any) -> None:
        """Run a write that must change a row, else the transaction is abandoned
        (:class:`~durably.backends.sql.dialect.Refused`)."""
        self.flush()
        self.cursor.write_or_refuse(self.dialect.render(template), params)

    def count_at_commit(self, template: str, *params: Any, then: Callable[[int], None]) -> None:
        """Run a write whose row count matters only after the commit: ``then(count)``
        runs once it is known (:meth:`Cursor.at_commit`). ``then`` may add notes; it
        must not write."""
        self._at_commit(template, params, lambda answer: then(answer.rowcount))

    def rows_at_commit(
        self, template: str, *params: Any, then: Callable[[list[tuple[Any, ...]]], None]
    ) -> None:
        """Run a statement (an ``INSERT ... RETURNING``) whose rows matter only after the
        commit: as :meth:`count_at_commit`, ``then(rows)``."""
        self._at_commit(template, params, lambda answer: then(list(map(tuple, answer.fetchall()))))

    def notify_if_found(self, kind: WorkKind, template: str, *params: Any) -> None:
        """:meth:`notify` ``kind`` if the query finds a row, learnt at the commit."""

        def found(answer: Answer) -> None:
            if answer.fetchone() is not None:
                self.notify(kind)

        self._at_commit(template, params, found)

    def notify(self, kind: WorkKind, visible_at: _dt.datetime | None = None) -> None:
        """Wake the waiters of ``kind`` once committed (``visible_at``: when it is due)."""
        self.notes.append((kind, visible_at))

    def _at_commit(
        self, template: str, params: Sequence[Any], then: Callable[[Answer], None]
    ) -> None:
        self.flush()
        self.cursor.at_commit(self.dialect.render(template), params, then)
