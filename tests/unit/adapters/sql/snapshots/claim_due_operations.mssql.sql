WITH due AS (
    SELECT TOP (?) *
    FROM operation WITH (UPDLOCK, READPAST, ROWLOCK)
    WHERE status IN ('pending', 'retry_wait', 'claimed') AND available_at <= ?
    ORDER BY available_at
)
UPDATE due
SET status = 'claimed', lease_owner = ?, lease_expires_at = ?,
    available_at = ?, attempts = attempts + 1, updated_at = ?
OUTPUT inserted.*
-- parameters: limit, now, worker, lease_until, lease_until, now
