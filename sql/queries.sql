-- Named queries, loaded by callback_desk.store. Blocks start with "-- name: <name>".
-- Parameters are always asyncpg placeholders ($1...): caller ID never reaches SQL text.

-- name: insert_call
-- A batch of decided calls of one PBX ($1), one array per column, in the order decided (the
-- listener's writer; Store.record_calls). rang is one JSON array of dial strings per call:
-- unnest() cannot carry an array per row. A batch never holds one linkedid twice.
-- Idempotent on (pbx, linkedid): a replayed spool, a reconnect or a second listener on the
-- same PBX writes nothing new. Returns one row per call this statement inserted.
INSERT INTO calls (pbx, linkedid, direction, outcome, reason, number, name, number_key, callable,
                   did, rang, started_at, ended_at, ring_seconds, reached_voicemail)
SELECT $1, u.linkedid, u.direction, u.outcome, u.reason, u.number, u.name, u.number_key,
       u.callable, u.did, ARRAY(SELECT jsonb_array_elements_text(u.rang::jsonb)), u.started_at,
       u.ended_at, u.ring_seconds, u.reached_voicemail
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::boolean[], $10::text[], $11::text[], $12::timestamptz[],
            $13::timestamptz[], $14::real[], $15::boolean[])
     WITH ORDINALITY AS u(linkedid, direction, outcome, reason, number, name, number_key,
                          callable, did, rang, started_at, ended_at, ring_seconds,
                          reached_voicemail, n)
ORDER BY u.n
ON CONFLICT (pbx, linkedid) DO NOTHING
RETURNING linkedid;

-- name: purge_calls
DELETE FROM calls WHERE started_at < $1;

-- name: close_stale_attempts
-- A callback whose AGI died mid-dial (process killed, database gone) never got its outcome;
-- after a day nobody will report it, so it is closed as UNKNOWN instead of "running" forever.
UPDATE callback_attempts
SET dial_status = 'UNKNOWN', ended_at = started_at, talk_seconds = 0
WHERE dial_status IS NULL AND started_at < $1;
