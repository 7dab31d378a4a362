-- durably schema: the version of the app that started an instance's current execution
-- (App(version=...)), NULL without one, and its sort key (durably.versions.version_key)
-- for workers that take only some versions.
-- Version 4 on SQLite, 5 on PostgreSQL.

ALTER TABLE durably_instances ADD COLUMN version TEXT;
ALTER TABLE durably_instances ADD COLUMN version_key TEXT;
