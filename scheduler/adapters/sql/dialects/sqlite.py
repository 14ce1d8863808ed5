"""SQLite: one writer at a time, so the claim is a plain UPDATE ... RETURNING inside a
write transaction (BEGIN IMMEDIATE, see `engine.py`)."""

#: Leases the due rows to :worker until :lease_until and returns them. Rows whose lease
#: expired are due again. The database-wide write lock makes the pick and update atomic.
CLAIM_DUE_OPERATIONS = """
    UPDATE operation
    SET status = 'claimed', lease_owner = :worker, lease_expires_at = :lease_until,
        available_at = :lease_until, attempts = attempts + 1, updated_at = :now
    WHERE id IN (
        SELECT id FROM operation
        WHERE status IN ('pending', 'retry_wait', 'claimed') AND available_at <= :now
        ORDER BY available_at
        LIMIT :limit
    )
    RETURNING *
"""

#: Claims the oldest unpublished outbox rows no other relay holds (or whose hold has
#: ended) for :relay until :until and returns them; the write lock makes it atomic.
CLAIM_OUTBOX = """
    UPDATE outbox
    SET relay_owner = :relay, relay_until = :until
    WHERE id IN (
        SELECT id FROM outbox
        WHERE published_at IS NULL
          AND (relay_until IS NULL OR relay_until <= :now OR relay_owner = :relay)
        ORDER BY id
        LIMIT :limit
    )
    RETURNING id, event_id, event_type, schedule_id, occurred_at, payload
"""

#: Per minute in [:since, :until), the first attempts at executions that started in it: how
#: many, and their largest and total lateness in seconds (times are ISO text, so
#: julianday; the minute is never negative, so CAST floors it).
LATENESS_PER_MINUTE = """
    SELECT CAST((julianday(started_at) - julianday(:since)) * 1440 AS INTEGER) AS minute,
           COUNT(*) AS started,
           MAX((julianday(started_at) - julianday(due_at)) * 86400.0) AS max_seconds,
           SUM((julianday(started_at) - julianday(due_at)) * 86400.0) AS total_seconds
    FROM execution_attempt
    WHERE finished_at >= :since AND started_at >= :since AND started_at < :until
      AND attempt = 1 AND kind = 'execution'
    GROUP BY 1
    ORDER BY 1
"""
