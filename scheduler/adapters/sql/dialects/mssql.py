"""SQL Server / Azure SQL: claim through an updatable CTE with UPDLOCK, READPAST and
ROWLOCK, the Hangfire SQL Server queue pattern.

UPDLOCK takes update locks on the rows read, READPAST skips rows another transaction
has locked (the SKIP LOCKED of SQL Server), ROWLOCK keeps the locks at row level.
Azure SQL runs with READ_COMMITTED_SNAPSHOT on: plain reads see the last committed
version without locking, but READPAST and UPDLOCK are locking hints that make this
statement read and lock current rows, so two workers never claim the same row. (SQLAlchemy
renders nothing for ``with_for_update(skip_locked=True)`` on mssql, hence raw T-SQL,
snapshot-tested in tests/unit/adapters/sql.)
"""

#: Locks the due rows it picks (skipping rows another worker holds), leases them to
#: :worker until :lease_until and returns them. Rows whose lease expired are due again.
CLAIM_DUE_OPERATIONS = """
    WITH due AS (
        SELECT TOP (:limit) *
        FROM operation WITH (UPDLOCK, READPAST, ROWLOCK)
        WHERE status IN ('pending', 'retry_wait', 'claimed') AND available_at <= :now
        ORDER BY available_at
    )
    UPDATE due
    SET status = 'claimed', lease_owner = :worker, lease_expires_at = :lease_until,
        available_at = :lease_until, attempts = attempts + 1, updated_at = :now
    OUTPUT inserted.*
"""

#: Claims the oldest unpublished outbox rows no other relay holds (or whose hold has
#: ended), skipping rows another claim has locked, for :relay until :until; returns them.
CLAIM_OUTBOX = """
    WITH next AS (
        SELECT TOP (:limit) *
        FROM outbox WITH (UPDLOCK, READPAST, ROWLOCK)
        WHERE published_at IS NULL
          AND (relay_until IS NULL OR relay_until <= :now OR relay_owner = :relay)
        ORDER BY id
    )
    UPDATE next
    SET relay_owner = :relay, relay_until = :until
    OUTPUT inserted.id, inserted.event_id, inserted.event_type, inserted.schedule_id,
        inserted.occurred_at, inserted.payload
"""

#: Per minute in [:since, :until), the first attempts at executions that started in it:
#: how many, and their largest and total lateness in seconds. Grouped in a derived
#: table: T-SQL groups by an expression, not an alias, and the same expression with its
#: own parameter would not match the select list's. Integer division floors the (never
#: negative) minute.
LATENESS_PER_MINUTE = """
    SELECT minute, COUNT(*) AS started, MAX(lateness) AS max_seconds,
           SUM(lateness) AS total_seconds
    FROM (
        SELECT DATEDIFF_BIG(millisecond, :since, started_at) / 60000 AS minute,
               DATEDIFF_BIG(millisecond, due_at, started_at) / 1000.0 AS lateness
        FROM execution_attempt
        WHERE finished_at >= :since AND started_at >= :since AND started_at < :until
          AND attempt = 1 AND kind = 'execution'
    ) AS first_attempts
    GROUP BY minute
    ORDER BY minute
"""
