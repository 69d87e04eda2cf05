-- Named queries, loaded by callback_desk.store. Blocks start with "-- name: <name>".
-- Parameters are always asyncpg placeholders ($1...): caller ID never reaches SQL text.

-- name: insert_call
-- One row per (pbx, linkedid), whoever writes it: a replayed stream or spool, a second listener
-- on the same PBX or a gap reconciliation. A later write replaces the row only when its decision
-- has more evidence (call_evidence, sql/0005_gaps.sql): answered or voicemail over missed, a
-- seen end over 'unknown_end'; with equal evidence the first row stays, so the result does not
-- depend on which writer came last.
-- A batch of decided calls of one PBX ($1), one array per column, in the order decided
-- (Store.record_calls; the listener's writer). rang is one array literal of dial strings per
-- call ('{"100@phones"}', store.array_literal): unnest() cannot carry an array per row, and
-- PostgreSQL reads a literal for less than it parsed the JSON array it replaces. A batch never
-- holds one linkedid twice (DO UPDATE cannot touch a row twice in one statement). $16 is the
-- gap reconciled calls came from (NULL: live). Returns one row per call this statement
-- inserted or upgraded.
INSERT INTO calls AS c (pbx, linkedid, direction, outcome, reason, number, name, number_key,
                        callable, did, rang, started_at, ended_at, ring_seconds,
                        reached_voicemail, gap_id)
SELECT $1, u.linkedid, u.direction, u.outcome, u.reason, u.number, u.name, u.number_key,
       u.callable, u.did, u.rang::text[], u.started_at,
       u.ended_at, u.ring_seconds, u.reached_voicemail, $16
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::boolean[], $10::text[], $11::text[], $12::timestamptz[],
            $13::timestamptz[], $14::real[], $15::boolean[])
     WITH ORDINALITY AS u(linkedid, direction, outcome, reason, number, name, number_key,
                          callable, did, rang, started_at, ended_at, ring_seconds,
                          reached_voicemail, n)
ORDER BY u.n
ON CONFLICT (pbx, linkedid) DO UPDATE
SET direction = EXCLUDED.direction, outcome = EXCLUDED.outcome, reason = EXCLUDED.reason,
    number = EXCLUDED.number, name = EXCLUDED.name, number_key = EXCLUDED.number_key,
    callable = EXCLUDED.callable, did = EXCLUDED.did, rang = EXCLUDED.rang,
    started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
    ring_seconds = EXCLUDED.ring_seconds, reached_voicemail = EXCLUDED.reached_voicemail,
    gap_id = EXCLUDED.gap_id
WHERE call_evidence(EXCLUDED.outcome, EXCLUDED.reason) > call_evidence(c.outcome, c.reason)
RETURNING id;

-- name: purge_calls
-- By age only: the function refuses a cut-off less than a day back (sql/0008_least_privilege.sql).
SELECT purge_calls_before($1);

-- name: close_stale_attempts
-- A callback whose AGI died mid-dial (process killed, database gone) never got its outcome;
-- after a day nobody will report it, so it is closed as UNKNOWN instead of "running" forever.
SELECT close_stale_callback_attempts($1);
