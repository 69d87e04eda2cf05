-- Named queries, loaded by callback_desk.store. Blocks start with "-- name: <name>".
-- Parameters are always asyncpg placeholders ($1...): caller ID never reaches SQL text.

-- name: insert_call
-- One row per (pbx, linkedid), whoever writes it: a replayed stream, a second listener on the
-- same PBX or a gap reconciliation. A later write replaces the row only when its decision has
-- more evidence (call_evidence, sql/0005_gaps.sql): answered or voicemail over missed, a seen
-- end over 'unknown_end'; with equal evidence the first row stays, so the result does not
-- depend on which writer came last. $16 is the gap a reconciled call came from (NULL: live).
-- Returns the id when this write inserted or upgraded the row, nothing when it changed nothing.
INSERT INTO calls AS c (pbx, linkedid, direction, outcome, reason, number, name, number_key,
                        callable, did, rang, started_at, ended_at, ring_seconds,
                        reached_voicemail, gap_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
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
DELETE FROM calls WHERE started_at < $1;

-- name: close_stale_attempts
-- A callback whose AGI died mid-dial (process killed, database gone) never got its outcome;
-- after a day nobody will report it, so it is closed as UNKNOWN instead of "running" forever.
UPDATE callback_attempts
SET dial_status = 'UNKNOWN', ended_at = started_at, talk_seconds = 0
WHERE dial_status IS NULL AND started_at < $1;
