-- durably schema: the deliveries of an instance's work since its last commit. A lease
-- (lock_next_orchestrations) counts one, releasing it unheld takes it back, and every
-- commit starts again from 0: an instance whose episodes keep killing their worker is
-- seen, and failed, after max_dequeue_count deliveries.
-- Version 2 on SQLite, 3 on PostgreSQL.

ALTER TABLE durably_instances ADD COLUMN dequeue_count INTEGER NOT NULL DEFAULT 0;
