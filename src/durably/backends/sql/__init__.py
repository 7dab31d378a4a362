"""The shared SQL layer of the SQLite and PostgreSQL stores, one job per module.

``dialect`` (what differs between databases: text slots and cursor capabilities), ``tx``
(one open transaction), ``schema`` (versioned scripts), ``statements`` (every statement,
written out), ``rows`` (rows to records), ``instances``, ``picking`` (taking orchestration
work), ``commits`` (applying an episode), ``activities``, and ``backend`` (the store's
methods on top of them). A new SQL store subclasses
:class:`~durably.backends.sql.backend.SqlBackend` with its :class:`~durably.backends.sql.
dialect.Dialect` and its connections; see docs/architecture.md.
"""
