-- durably schema: why an instance's work waits for another worker
-- (Worker(unknown_function="wait")), as a worker noted it, and the instance's
-- last_updated_time when it did: the note holds only until the instance's next commit,
-- which changes last_updated_time, so that commits never write it.
-- Version 5 on SQLite, 6 on PostgreSQL.

ALTER TABLE durably_instances ADD COLUMN waiting TEXT;
ALTER TABLE durably_instances ADD COLUMN waiting_at BIGINT;
