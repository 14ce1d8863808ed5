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
