"""Every statement of the shared SQL stores, written out.

One text for SQLite and PostgreSQL, with ``?`` placeholders and two slots the dialect
fills (see :class:`~durably.backends.sql.dialect.Dialect`): ``{for_update}`` and
``{skip_locked}``. Statements over a list of ids or rows are functions of its length
(each text is made once per length).
"""

from __future__ import annotations

import functools

INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, runtime_status, input, output, custom_status, "
    "created_time, last_updated_time, parent_instance_id, history_length, version"
)
"""The columns of :func:`~durably.backends.sql.rows.record`, in its order."""


@functools.cache
def marks(count: int) -> str:
    """``count`` placeholders separated by commas."""
    return ", ".join(["?"] * count)


# -- instances ------------------------------------------------------------------------

STATUS_COLUMNS = f"{INSTANCE_COLUMNS}, CASE WHEN waiting_at = last_updated_time THEN waiting END"
"""``INSTANCE_COLUMNS`` and the waiting note, if the instance has not committed since
(:func:`~durably.backends.sql.rows.record` with ``waiting``): for status reads."""

SELECT_INSTANCE = (
    f"SELECT {STATUS_COLUMNS} FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
)
# -- the dashboard's summary (each from an index) -------------------------------------
COUNT_BY_STATUS = (
    "SELECT runtime_status, COUNT(*) FROM durably_instances WHERE task_hub = ?"
    " GROUP BY runtime_status"
)
STARTED_PER_MINUTE = (
    "SELECT (created_time - ?) / 60000000, COUNT(*) FROM durably_instances"
    " WHERE task_hub = ? AND created_time >= ? GROUP BY 1"
)


@functools.cache
def finished_per_minute(count: int) -> str:
    """Instances in one of ``count`` finished statuses, by the minute they last changed."""
    return (
        "SELECT (last_updated_time - ?) / 60000000, COUNT(*) FROM durably_instances"
        f" WHERE task_hub = ? AND runtime_status IN ({marks(count)})"
        " AND last_updated_time >= ? GROUP BY 1"
    )


BACKLOG_MESSAGES = (
    "SELECT COUNT(*), MIN(visible_at) FROM durably_inbox WHERE task_hub = ? AND visible_at <= ?"
)
BACKLOG_ACTIVITIES = (
    "SELECT COUNT(*), MIN(visible_at) FROM durably_activities"
    " WHERE task_hub = ? AND visible_at <= ?"
)

NOTE_WAITING = (
    "UPDATE durably_instances SET waiting = ?, waiting_at = last_updated_time"
    " WHERE task_hub = ? AND instance_id = ? AND runtime_status IN (?, ?)"
)
SELECT_STATUS = (
    "SELECT runtime_status FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
    "{for_update}"
)
INSERT_INSTANCE = (
    "INSERT INTO durably_instances (task_hub, instance_id, name, execution_id, runtime_status,"
    " input, created_time, last_updated_time, parent_instance_id, version, version_key,"
    " history_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
    " ON CONFLICT (task_hub, instance_id) DO NOTHING"
)
SELECT_EMPTY_ENTITY = (
    "SELECT input, custom_status FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
    "{lock_or_skip}"
)
HAS_INBOX = "SELECT 1 FROM durably_inbox WHERE task_hub = ? AND instance_id = ? LIMIT 1"
INSERT_COMMITTED_INSTANCE = (
    # A local start's instance, written once as its first episode left it.
    "INSERT INTO durably_instances (task_hub, instance_id, name, execution_id, runtime_status,"
    " input, output, custom_status, created_time, last_updated_time, parent_instance_id,"
    " history_length, version, version_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (task_hub, instance_id) DO NOTHING"
)
DELETE_INSTANCE = "DELETE FROM durably_instances WHERE task_hub = ? AND instance_id = ?"

# An episode's UPDATE of its instance row comes in two shapes: after an episode that
# changed status, name, execution or input (every column), and after an ordinary step
# (only what a step changes: an indexed column named in SET costs its index a page
# write even when the value stays the same). Each shape has three guards: the lease's
# token (a commit of a locked work item: no row means the lock was lost), none (the row
# is held by this transaction), and "unchanged" (nobody locked it: the row must still
# be as the worker last left it, with no live lease and no visible message).

UPDATE_LOCKED_AFTER_EPISODE = (
    "UPDATE durably_instances SET name = ?, execution_id = ?, runtime_status = ?, input = ?,"
    " version = ?, version_key = ?,"
    " output = ?, custom_status = ?, last_updated_time = ?, history_length = ?,"
    " lock_owner = NULL, lock_token = NULL, lock_expires = NULL, dequeue_count = 0"
    " WHERE task_hub = ? AND instance_id = ? AND lock_token = ?"
)
UPDATE_LOCKED_AFTER_STEP = (
    "UPDATE durably_instances SET output = ?, custom_status = ?, last_updated_time = ?,"
    " history_length = ?, lock_owner = NULL, lock_token = NULL, lock_expires = NULL,"
    " dequeue_count = 0"
    " WHERE task_hub = ? AND instance_id = ? AND lock_token = ?"
)
UPDATE_HELD_AFTER_EPISODE = (
    "UPDATE durably_instances SET name = ?, execution_id = ?, runtime_status = ?, input = ?,"
    " version = ?, version_key = ?,"
    " output = ?, custom_status = ?, last_updated_time = ?, history_length = ?,"
    " lock_owner = NULL, lock_token = NULL, lock_expires = NULL, dequeue_count = 0"
    " WHERE task_hub = ? AND instance_id = ?"
)
UPDATE_HELD_AFTER_STEP = (
    "UPDATE durably_instances SET output = ?, custom_status = ?, last_updated_time = ?,"
    " history_length = ?, lock_owner = NULL, lock_token = NULL, lock_expires = NULL,"
    " dequeue_count = 0"
    " WHERE task_hub = ? AND instance_id = ?"
)
UPDATE_UNCHANGED_AFTER_EPISODE = (
    "UPDATE durably_instances SET name = ?, execution_id = ?, runtime_status = ?, input = ?,"
    " version = ?, version_key = ?,"
    " output = ?, custom_status = ?, last_updated_time = ?, history_length = ?,"
    " lock_owner = NULL, lock_token = NULL, lock_expires = NULL, dequeue_count = 0"
    " WHERE task_hub = ? AND instance_id = ?"
    " AND execution_id = ? AND history_length = ? AND runtime_status = ?"
    " AND (lock_expires IS NULL OR lock_expires <= ?)"
    " AND NOT EXISTS (SELECT 1 FROM durably_inbox m WHERE m.task_hub = ?"
    " AND m.instance_id = ? AND m.visible_at <= ?)"
)
UPDATE_UNCHANGED_AFTER_STEP = (
    "UPDATE durably_instances SET output = ?, custom_status = ?, last_updated_time = ?,"
    " history_length = ?, lock_owner = NULL, lock_token = NULL, lock_expires = NULL,"
    " dequeue_count = 0"
    " WHERE task_hub = ? AND instance_id = ?"
    " AND execution_id = ? AND history_length = ? AND runtime_status = ?"
    " AND (lock_expires IS NULL OR lock_expires <= ?)"
    " AND NOT EXISTS (SELECT 1 FROM durably_inbox m WHERE m.task_hub = ?"
    " AND m.instance_id = ? AND m.visible_at <= ?)"
)

RELEASE_INSTANCE = (
    # Handed back unprocessed: the delivery its lease counted is taken back.
    "UPDATE durably_instances SET lock_owner = NULL, lock_token = NULL, lock_expires = NULL,"
    " dequeue_count = CASE WHEN dequeue_count > 0 THEN dequeue_count - 1 ELSE 0 END"
    " WHERE task_hub = ? AND instance_id = ? AND lock_token = ?"
)

# -- picking orchestration work ---------------------------------------------------

HAS_ORCHESTRATION_WORK = (
    # Is there a visible message for an instance whose lock is free? A read that spares
    # an idle poll a write transaction.
    "SELECT 1 FROM durably_inbox m JOIN durably_instances w"
    " ON w.task_hub = m.task_hub AND w.instance_id = m.instance_id"
    " WHERE m.task_hub = ? AND m.visible_at <= ?"
    " AND (w.lock_expires IS NULL OR w.lock_expires <= ?) LIMIT 1"
)
LOCK_CANDIDATES = (
    # The oldest visible messages, by the inbox index and a LIMIT: no join, so no plan
    # can turn it into a scan of every instance (PostgreSQL did, on fresh tables without
    # statistics). The lock then skips the instances that are busy.
    "SELECT instance_id FROM durably_inbox WHERE task_hub = ? AND visible_at <= ?"
    " ORDER BY visible_at, id LIMIT ?"
)


@functools.cache
def lock_candidates_taken(version_compare: str | None, names: int) -> str:
    """:data:`LOCK_CANDIDATES` for a worker that takes only some instances: of versions
    whose key compares so (``=`` or ``<=``) to a given one, and of ``names`` orchestrator
    names. The join with the instances is the price of never offering the lock instances
    it would pass by (they would fill every window)."""
    conditions = ""
    if version_compare is not None:
        conditions += f" AND (w.version_key IS NULL OR w.version_key {version_compare} ?)"
    if names:
        conditions += f" AND w.name IN ({marks(names)})"
    return (
        "SELECT m.instance_id FROM durably_inbox m JOIN durably_instances w"
        " ON w.task_hub = m.task_hub AND w.instance_id = m.instance_id"
        f" WHERE m.task_hub = ? AND m.visible_at <= ?{conditions}"
        " ORDER BY m.visible_at, m.id LIMIT ?"
    )


@functools.cache
def lock_instances(count: int) -> str:
    """Lease the free ones of ``count`` named instances, counting the delivery; returning
    their rows and delivery counts.

    The pick is a MATERIALIZED CTE with SKIP LOCKED: an instance another transaction
    holds is passed by, not waited for, and the pick runs once (an ``IN (subquery)`` may
    run again per outer row and pick other rows each time).
    """
    return (
        "WITH picked AS MATERIALIZED ("
        "SELECT w.instance_id FROM durably_instances w"
        f" WHERE w.task_hub = ? AND w.instance_id IN ({marks(count)})"
        " AND (w.lock_expires IS NULL OR w.lock_expires <= ?) LIMIT ?{skip_locked})"
        " UPDATE durably_instances SET lock_owner = ?, lock_token = ?, lock_expires = ?,"
        " dequeue_count = dequeue_count + 1"
        " WHERE task_hub = ? AND instance_id IN (SELECT instance_id FROM picked)"
        f" RETURNING {INSTANCE_COLUMNS}, dequeue_count"
    )


@functools.cache
def hold_instances(count: int) -> str:
    """Hold the free ones of ``count`` named instances until the transaction ends, for a
    transaction that also commits their episodes: SQLite's write lock, PostgreSQL's row
    locks (busy rows passed by) keep them, so no lease is written."""
    return (
        f"SELECT {INSTANCE_COLUMNS} FROM durably_instances w"
        f" WHERE w.task_hub = ? AND w.instance_id IN ({marks(count)})"
        " AND (w.lock_expires IS NULL OR w.lock_expires <= ?) LIMIT ?{skip_locked}"
    )


@functools.cache
def hold_fresh_instances(count: int) -> str:
    """:func:`hold_instances` for instances found in the inbox beside the named ones:
    only those that no lease has taken since their last commit (a delivery that may
    have killed its worker is left to a counted lease)."""
    return (
        f"SELECT {INSTANCE_COLUMNS} FROM durably_instances w"
        f" WHERE w.task_hub = ? AND w.instance_id IN ({marks(count)})"
        " AND (w.lock_expires IS NULL OR w.lock_expires <= ?) AND w.dequeue_count = 0"
        " LIMIT ?{skip_locked}"
    )


@functools.cache
def hold_activities(count: int) -> str:
    """The lease tokens of ``count`` activity requests, their rows held until the
    transaction ends (on PostgreSQL, rows another transaction holds are passed by: read
    as gone)."""
    return (
        "SELECT w.id, w.lock_token FROM durably_activities w"
        f" WHERE w.task_hub = ? AND w.id IN ({marks(count)}){{skip_locked}}"
    )


@functools.cache
def hold_leased(count: int) -> str:
    """Hold ``count`` named instances this worker leased (by the lease's token) until the
    transaction ends: their episodes commit in it."""
    return (
        f"SELECT {INSTANCE_COLUMNS}, dequeue_count FROM durably_instances w"
        f" WHERE w.task_hub = ? AND w.instance_id IN ({marks(count)}) AND w.lock_token = ?"
        "{for_update}"
    )


@functools.cache
def visible_messages(count: int) -> str:
    """The messages of ``count`` named instances visible at a time, oldest first."""
    return (
        "SELECT instance_id, id, execution_id, event FROM durably_inbox"
        f" WHERE task_hub = ? AND instance_id IN ({marks(count)}) AND visible_at <= ?"
        " ORDER BY id"
    )


@functools.cache
def has_messages(count: int) -> str:
    """Whether any of ``count`` named instances has a message, visible or not."""
    return (
        "SELECT 1 FROM durably_inbox"
        f" WHERE task_hub = ? AND instance_id IN ({marks(count)}) LIMIT 1"
    )


# -- history and inbox ------------------------------------------------------------

# The first row of an execution (sequence 0) comes with its instance row's input, which
# its ExecutionStarted leaves out (see rows.event_text).
SELECT_HISTORY = (
    "SELECT h.sequence, h.event, CASE WHEN h.sequence = 0 THEN (SELECT i.input"
    " FROM durably_instances i WHERE i.task_hub = h.task_hub AND i.instance_id = h.instance_id)"
    " END FROM durably_history h WHERE h.task_hub = ? AND h.instance_id = ? ORDER BY h.sequence"
)
SELECT_INPUT = "SELECT input FROM durably_instances WHERE task_hub = ? AND instance_id = ?"
INSERT_HISTORY = (
    "INSERT INTO durably_history (task_hub, instance_id, sequence, event) VALUES (?, ?, ?, ?)"
)
DELETE_HISTORY = "DELETE FROM durably_history WHERE task_hub = ? AND instance_id = ?"

INSERT_MESSAGE = (
    "INSERT INTO durably_inbox (task_hub, instance_id, execution_id, visible_at, event)"
    " VALUES (?, ?, ?, ?, ?)"
)
INSERT_START_MESSAGE = (
    # Only if the instance row is the one just inserted (its new execution id): no row
    # inserted means another instance holds the id.
    "INSERT INTO durably_inbox (task_hub, instance_id, execution_id, visible_at, event)"
    " SELECT task_hub, instance_id, execution_id, ?, ? FROM durably_instances"
    " WHERE task_hub = ? AND instance_id = ? AND execution_id = ?"
    " RETURNING id"
)
ENQUEUE_IF_EXISTS = (
    "INSERT INTO durably_inbox (task_hub, instance_id, execution_id, visible_at, event)"
    " SELECT task_hub, instance_id, ?, ?, ? FROM durably_instances"
    " WHERE task_hub = ? AND instance_id = ?"
)
DELETE_MESSAGE = "DELETE FROM durably_inbox WHERE task_hub = ? AND instance_id = ? AND id = ?"
DELETE_INBOX = "DELETE FROM durably_inbox WHERE task_hub = ? AND instance_id = ?"

# -- activity work ----------------------------------------------------------------

INSERT_ACTIVITY = (
    "INSERT INTO durably_activities (task_hub, instance_id, execution_id, task_id, name, input,"
    " trace_context, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@functools.cache
def insert_claimed_activities(rows: int) -> str:
    """Insert ``rows`` claimed requests as :data:`LOCK_ACTIVITIES` leaves a request:
    locked, handed out once, visible again at lease expiry; returns their ids."""
    row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    return (
        "INSERT INTO durably_activities (task_hub, instance_id, execution_id, task_id, name,"
        " input, trace_context, visible_at, lock_owner, lock_token, lock_expires, dequeue_count)"
        f" VALUES {', '.join([row] * rows)} RETURNING id, instance_id, task_id"
    )


REUSE_ACTIVITY = (
    # A claimed request written over the row of an activity whose result the same commit
    # applies: one statement instead of a DELETE and an INSERT, and the id is known. If
    # that row is gone (another worker re-ran the activity and delivered it), the row is
    # inserted again under its old id, which nothing else can have taken. A row that is
    # there is that instance's own: its task hub and instance id stay out of SET (an
    # indexed column in SET rewrites its index entry, a page, even for the same value).
    "INSERT INTO durably_activities (id, task_hub, instance_id, execution_id, task_id, name,"
    " input, trace_context, visible_at, lock_owner, lock_token, lock_expires, dequeue_count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    " ON CONFLICT (id) DO UPDATE SET execution_id = excluded.execution_id,"
    " task_id = excluded.task_id, name = excluded.name, input = excluded.input,"
    " trace_context = excluded.trace_context,"
    " visible_at = excluded.visible_at, lock_owner = excluded.lock_owner,"
    " lock_token = excluded.lock_token, lock_expires = excluded.lock_expires,"
    " dequeue_count = 1"
)
HAS_ACTIVITY_WORK = (
    "SELECT 1 FROM durably_activities WHERE task_hub = ? AND visible_at <= ? LIMIT 1"
)
LOCK_ACTIVITIES = (
    # One statement leases a whole batch under one token; the lease expiry doubles as
    # the time the work becomes visible again (see the schema). The pick is a
    # MATERIALIZED CTE for the reason given in lock_instances.
    "WITH picked AS MATERIALIZED ("
    "SELECT w.id FROM durably_activities w WHERE w.task_hub = ? AND w.visible_at <= ?"
    " AND (w.lock_expires IS NULL OR w.lock_expires <= ?)"
    " ORDER BY w.visible_at, w.id LIMIT ?{skip_locked})"
    " UPDATE durably_activities SET lock_owner = ?, lock_token = ?, lock_expires = ?,"
    " visible_at = ?, dequeue_count = dequeue_count + 1"
    " WHERE task_hub = ? AND id IN (SELECT id FROM picked)"
    " RETURNING id, instance_id, execution_id, task_id, name, input, dequeue_count,"
    " trace_context"
)
RENEW_ACTIVITY = (
    "UPDATE durably_activities SET lock_expires = ?, visible_at = ?"
    " WHERE task_hub = ? AND id = ? AND lock_token = ?"
)
ABANDON_ACTIVITY = (
    "UPDATE durably_activities SET lock_owner = NULL, lock_token = NULL, lock_expires = NULL,"
    " visible_at = ?, dequeue_count = CASE WHEN dequeue_count > 0 THEN dequeue_count - 1"
    " ELSE 0 END WHERE task_hub = ? AND id = ? AND lock_token = ?"
)
DELETE_LOCKED_ACTIVITY = (
    "DELETE FROM durably_activities WHERE task_hub = ? AND id = ? AND lock_token = ?"
)
DELETE_ACTIVITY = "DELETE FROM durably_activities WHERE task_hub = ? AND id = ?"
DELETE_ACTIVITIES = "DELETE FROM durably_activities WHERE task_hub = ? AND instance_id = ?"
