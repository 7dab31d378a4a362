-- durably schema: the version of the app that started an instance's current execution
-- (App(version=...)), NULL without one.
-- Version 4 on SQLite, 5 on PostgreSQL.

ALTER TABLE durably_instances ADD COLUMN version TEXT;
