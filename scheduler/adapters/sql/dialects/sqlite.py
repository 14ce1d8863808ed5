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
