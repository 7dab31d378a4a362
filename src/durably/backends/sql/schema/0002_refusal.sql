-- durably schema, PostgreSQL version 2 (SQLite has no such script: it stays at version 1).
-- durably_refuse_if_none(n) is the named refusal of a guarded write sent without waiting
-- for its row count (a PostgreSQL pipeline): called with the count of rows the write
-- changed, it aborts the transaction with SQLSTATE DU001 when that count is 0, and the
-- store reports "refused" (nothing written) instead of a failure.

CREATE OR REPLACE FUNCTION durably_refuse_if_none(changed bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF changed = 0 THEN
        RAISE EXCEPTION 'durably: a guarded write changed no row' USING ERRCODE = 'DU001';
    END IF;
    RETURN changed;
END
$$;
