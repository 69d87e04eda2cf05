-- One line scope and one fast definition of "awaiting a callback".
--
-- 1. line_extension(): the extension a Dial() string reached, normalised once, here. The
--    listener stores dial strings as Asterisk reports them (DialBegin's DialString) and FreePBX
--    produces many shapes for one desk: 'PJSIP/100', '100@phones', 'PJSIP/100/sip:100@host',
--    'Local/100@from-queue/n' (queues), 'Local/100@from-internal', '100@ext-local/n',
--    'Local/FMGL-100#@from-internal' (follow-me), plain '100'. calls.extensions holds the
--    normalised list (a stored generated column), so every scope check — the report's --for,
--    the desk menu, click-to-call, the inbox — compares plain extensions.
-- 2. The missed_calls view had OR-joins over attempts and dispositions that scanned both in full
--    for every missed call (14 s for the desk menu on a year of a busy PBX). Each way a call can
--    be returned is now its own index-backed branch, and attempts carry the caller's number_key.

CREATE FUNCTION line_extension(dial text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN substring(dial FROM '^(?:[A-Za-z0-9_-]+/)?(?:FM(?:GL|PR)-)?([^/@#]+)');

CREATE FUNCTION line_extensions(dials text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ARRAY(
    SELECT e
    FROM unnest(dials) WITH ORDINALITY AS u (dial, i), line_extension(u.dial) AS e
    WHERE e IS NOT NULL
    GROUP BY e
    ORDER BY min(u.i)
);

ALTER TABLE calls
    ADD COLUMN extensions text[] NOT NULL GENERATED ALWAYS AS (line_extensions(rang)) STORED;

-- A later answered call, or a message left, returns every earlier missed call of that number.
CREATE INDEX calls_contact_idx ON calls (number_key, started_at)
    WHERE outcome IN ('answered', 'voicemail');

-- The caller a callback went to, copied from the call it returns: resolution is per number, and
-- an index on it replaces the join through calls that the old view did for every missed call.
ALTER TABLE callback_attempts ADD COLUMN number_key text;
UPDATE callback_attempts a SET number_key = c.number_key FROM calls c WHERE c.id = a.call_id;

CREATE FUNCTION callback_attempts_number_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.number_key := (SELECT c.number_key FROM calls c WHERE c.id = NEW.call_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER callback_attempts_number_key
    BEFORE INSERT OR UPDATE OF call_id ON callback_attempts
    FOR EACH ROW EXECUTE FUNCTION callback_attempts_number_key();

CREATE INDEX callback_attempts_number_idx ON callback_attempts (number_key, started_at);

DROP INDEX caller_dispositions_number_idx;
CREATE INDEX caller_dispositions_number_idx ON caller_dispositions (number_key, decided_at);
CREATE INDEX caller_dispositions_call_idx ON caller_dispositions (call_id);

-- The same rule as before, one branch per way a missed call is returned, each answered from an
-- index with LIMIT 1: the first later call from that number that reached someone (answered,
-- or a message left; inbound or outbound), the first answered callback to that number, or the
-- therapist's verdict on the caller or on this call ('handled' after it, 'never' at any time).
-- callback_desk.core.awaiting relies on the same rule (see sql/queries_awaiting.sql).
DROP VIEW missed_calls;
CREATE VIEW missed_calls AS
SELECT m.id, m.pbx, m.linkedid, m.reason, m.number, m.name, m.number_key, m.callable, m.did,
       m.rang, m.started_at, m.ended_at, m.ring_seconds, m.reached_voicemail, m.extensions,
       r.returned_at, r.returned_how
FROM calls m
LEFT JOIN LATERAL (
    SELECT x.returned_at, x.returned_how
    FROM (
        (SELECT c.started_at, c.direction || '_' || c.outcome
         FROM calls c
         WHERE c.number_key = m.number_key
           AND c.outcome IN ('answered', 'voicemail')
           AND c.started_at > m.started_at
         ORDER BY c.started_at
         LIMIT 1)
        UNION ALL
        (SELECT a.started_at, 'callback_answered'
         FROM callback_attempts a
         WHERE a.number_key = m.number_key
           AND a.started_at > m.started_at
           AND a.dial_status = 'ANSWER'
         ORDER BY a.started_at
         LIMIT 1)
        UNION ALL
        (SELECT d.decided_at, 'marked_' || d.disposition
         FROM caller_dispositions d
         WHERE d.number_key = m.number_key
           AND (d.disposition = 'never' OR d.decided_at > m.started_at)
         ORDER BY d.decided_at
         LIMIT 1)
        UNION ALL
        (SELECT d.decided_at, 'marked_' || d.disposition
         FROM caller_dispositions d
         WHERE d.call_id = m.id
           AND (d.disposition = 'never' OR d.decided_at > m.started_at)
         ORDER BY d.decided_at
         LIMIT 1)
    ) x (returned_at, returned_how)
    ORDER BY x.returned_at
    LIMIT 1
) r ON true
WHERE m.outcome = 'missed';
