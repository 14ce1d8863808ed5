"""PostgreSQL: claim with FOR UPDATE SKIP LOCKED in one statement."""

#: Locks the due rows it picks (skipping rows another worker holds), leases them to
#: :worker until :lease_until and returns them. Rows whose lease expired are due again.
CLAIM_DUE_OPERATIONS = """
    WITH due AS (
        SELECT id FROM operation
        WHERE status IN ('pending', 'retry_wait', 'claimed') AND available_at <= :now
        ORDER BY available_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE operation AS o
    SET status = 'claimed', lease_owner = :worker, lease_expires_at = :lease_until,
        available_at = :lease_until, attempts = o.attempts + 1, updated_at = :now
    FROM due
    WHERE o.id = due.id
    RETURNING o.*
"""

#: Claims the oldest unpublished outbox rows no other relay holds (or whose hold has
#: ended), skipping rows another claim has locked, for :relay until :until; returns them.
CLAIM_OUTBOX = """
    WITH next AS (
        SELECT id FROM outbox
        WHERE published_at IS NULL
          AND (relay_until IS NULL OR relay_until <= :now OR relay_owner = :relay)
        ORDER BY id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE outbox AS o
    SET relay_owner = :relay, relay_until = :until
    FROM next
    WHERE o.id = next.id
    RETURNING o.id, o.event_id, o.event_type, o.schedule_id, o.occurred_at, o.payload
"""

#: Per minute in [:since, :until), the first attempts at executions that started in it: how
#: many, and their largest and total lateness in seconds. Bounded by finished_at, which
#: is indexed (an attempt finishes after it starts).
LATENESS_PER_MINUTE = """
    SELECT FLOOR(EXTRACT(EPOCH FROM started_at - :since) / 60)::integer AS minute,
           COUNT(*) AS started,
           MAX(EXTRACT(EPOCH FROM started_at - due_at)) AS max_seconds,
           SUM(EXTRACT(EPOCH FROM started_at - due_at)) AS total_seconds
    FROM execution_attempt
    WHERE finished_at >= :since AND started_at >= :since AND started_at < :until
      AND attempt = 1 AND kind = 'execution'
    GROUP BY 1
    ORDER BY 1
"""
