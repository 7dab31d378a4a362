-- durably schema: the trace context an activity request carries (W3C traceparent of its
-- orchestration's span), so that the worker running it, in whichever process, continues
-- the orchestration's trace. NULL when the scheduling worker traces nothing.
-- Version 6 on SQLite, 7 on PostgreSQL.

ALTER TABLE durably_activities ADD COLUMN trace_context TEXT;
