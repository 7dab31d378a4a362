-- durably schema, version 1. Shared by SQLite and PostgreSQL.
-- Timestamps are integer microseconds since the Unix epoch (UTC): they compare and index
-- the same way everywhere. {id_primary_key} is the dialect's auto-increment primary key.
-- Every row carries its task hub; hubs never see each other's rows.

CREATE TABLE IF NOT EXISTS durably_instances (
    task_hub TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    runtime_status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    parent_instance_id TEXT,
    history_length INTEGER NOT NULL DEFAULT 0,
    lock_owner TEXT,
    lock_token TEXT,
    lock_expires BIGINT,
    PRIMARY KEY (task_hub, instance_id)
);

-- list_instances pages in (created_time, instance_id) order, optionally by status or name.
CREATE INDEX IF NOT EXISTS durably_instances_created
    ON durably_instances (task_hub, created_time, instance_id);
CREATE INDEX IF NOT EXISTS durably_instances_status
    ON durably_instances (task_hub, runtime_status, created_time, instance_id);
CREATE INDEX IF NOT EXISTS durably_instances_name
    ON durably_instances (task_hub, name, created_time, instance_id);

-- A row holds the events one commit appended: one event's JSON object, or a JSON array of
-- them; sequence is the number of its first event (events are numbered from 0).
CREATE TABLE IF NOT EXISTS durably_history (
    task_hub TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (task_hub, instance_id, sequence)
);

-- The inbox: visible_at is the timer mechanism (a timer is a message visible at fire time).
CREATE TABLE IF NOT EXISTS durably_inbox (
    id {id_primary_key},
    task_hub TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    visible_at BIGINT NOT NULL,
    event TEXT NOT NULL
);

-- lock_next_orchestrations walks the visible messages oldest first.
CREATE INDEX IF NOT EXISTS durably_inbox_visible
    ON durably_inbox (task_hub, visible_at, id);
-- An instance's visible messages (with visible_at in the key, SQLite's planner prefers it).
CREATE INDEX IF NOT EXISTS durably_inbox_instance
    ON durably_inbox (task_hub, instance_id, visible_at);

-- A locked request is re-queued at its lease expiry (visible_at = lock_expires), so the
-- visible range of durably_activities_visible holds only requests that can be taken.
CREATE TABLE IF NOT EXISTS durably_activities (
    id {id_primary_key},
    task_hub TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    visible_at BIGINT NOT NULL,
    lock_owner TEXT,
    lock_token TEXT,
    lock_expires BIGINT,
    dequeue_count INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS durably_activities_visible
    ON durably_activities (task_hub, visible_at, id);
CREATE INDEX IF NOT EXISTS durably_activities_instance
    ON durably_activities (task_hub, instance_id);
