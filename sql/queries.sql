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

-- name: purge_calls
DELETE FROM calls WHERE started_at < $1;

-- name: close_stale_attempts
-- A callback whose AGI died mid-dial (process killed, database gone) never got its outcome;
-- after a day nobody will report it, so it is closed as UNKNOWN instead of "running" forever.
UPDATE callback_attempts
SET dial_status = 'UNKNOWN', ended_at = started_at, talk_seconds = 0
WHERE dial_status IS NULL AND started_at < $1;
