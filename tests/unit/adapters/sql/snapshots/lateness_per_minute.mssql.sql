SELECT minute, COUNT(*) AS started, MAX(lateness) AS max_seconds,
       SUM(lateness) AS total_seconds
FROM (
    SELECT DATEDIFF_BIG(millisecond, ?, started_at) / 60000 AS minute,
           DATEDIFF_BIG(millisecond, due_at, started_at) / 1000.0 AS lateness
    FROM execution_attempt
    WHERE finished_at >= ? AND started_at >= ? AND started_at < ?
      AND attempt = 1 AND kind = 'execution'
) AS first_attempts
GROUP BY minute
ORDER BY minute
-- parameters: since, since, since, until
