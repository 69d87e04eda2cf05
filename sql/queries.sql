-- Named queries, loaded by callback_desk.store. Blocks start with "-- name: <name>".
-- Parameters are always asyncpg placeholders ($1...): caller ID never reaches SQL text.

-- name: insert_call
-- Idempotent on (pbx, linkedid): a replayed stream or a second listener on the same PBX
-- writes nothing new. Returns the id only when this call inserted the row.
INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, name, number_key, callable,
                   did, rang, started_at, ended_at, ring_seconds, reached_voicemail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (pbx, linkedid) DO NOTHING
RETURNING id;

-- name: missed_callers
-- One row per caller still awaiting a callback whose missed calls fall in [$1, $2).
SELECT coalesce(number_key, number)                                  AS caller,
       (array_agg(number ORDER BY started_at DESC))[1]               AS number,
       (array_agg(number_key ORDER BY started_at DESC))[1]           AS number_key,
       (array_agg(name ORDER BY started_at DESC))[1]                 AS name,
       count(*)                                                      AS calls,
       min(started_at)                                               AS first_at,
       max(started_at)                                               AS last_at,
       (array_agg(reached_voicemail ORDER BY started_at DESC))[1]    AS reached_voicemail,
       (array_agg(did ORDER BY started_at DESC))[1]                  AS did,
       (array_agg(reason ORDER BY started_at DESC))[1]               AS reason,
       (array_agg(id ORDER BY started_at DESC))[1]                   AS last_id,
       bool_or(callable)                                             AS callable
FROM missed_calls
WHERE returned_at IS NULL AND started_at >= $1 AND started_at < $2
GROUP BY 1
ORDER BY max(started_at) DESC, 1;

-- name: purge_calls
DELETE FROM calls WHERE started_at < $1;
