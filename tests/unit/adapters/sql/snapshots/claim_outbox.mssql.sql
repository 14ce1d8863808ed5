WITH next AS (
    SELECT TOP (?) *
    FROM outbox WITH (UPDLOCK, READPAST, ROWLOCK)
    WHERE published_at IS NULL
      AND (relay_until IS NULL OR relay_until <= ? OR relay_owner = ?)
    ORDER BY id
)
UPDATE next
SET relay_owner = ?, relay_until = ?
OUTPUT inserted.id, inserted.event_id, inserted.event_type, inserted.schedule_id,
    inserted.occurred_at, inserted.payload
-- parameters: limit, now, relay, relay, until
