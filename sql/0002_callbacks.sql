-- Callbacks placed from the desk phone (AGI menu or click-to-call), and the therapist's own
-- verdicts on a caller. Both can resolve a missed call, so the missed_calls view learns them.

CREATE TABLE callback_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id       bigint      NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    extension     text        NOT NULL,
    -- Asterisk Uniqueid of the callback's channel (pre-assigned by click-to-call's Originate).
    channel_id    text        UNIQUE,
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    -- Dial()'s DIALSTATUS (ANSWER, NOANSWER, BUSY, ...); NULL while the attempt is running.
    dial_status   text,
    talk_seconds  integer     CHECK (talk_seconds >= 0)
);

CREATE INDEX callback_attempts_call_idx ON callback_attempts (call_id);

-- 'handled': the therapist dealt with it another way (resolves calls up to decided_at);
-- 'never': spam or wrong number, never list this caller again.
CREATE TABLE caller_dispositions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id      bigint      REFERENCES calls (id) ON DELETE CASCADE,
    number_key   text,
    disposition  text        NOT NULL CHECK (disposition IN ('handled', 'never')),
    extension    text        NOT NULL DEFAULT '',
    decided_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT caller_dispositions_target CHECK (call_id IS NOT NULL OR number_key IS NOT NULL)
);

CREATE INDEX caller_dispositions_number_idx ON caller_dispositions (number_key);

CREATE OR REPLACE VIEW missed_calls AS
SELECT m.id, m.pbx, m.linkedid, m.reason, m.number, m.name, m.number_key, m.callable, m.did,
       m.rang, m.started_at, m.ended_at, m.ring_seconds, m.reached_voicemail,
       r.returned_at, r.returned_how
FROM calls m
LEFT JOIN LATERAL (
    SELECT x.returned_at, x.returned_how
    FROM (
        SELECT c.started_at AS returned_at, c.direction || '_' || c.outcome AS returned_how
        FROM calls c
        WHERE c.number_key = m.number_key
          AND c.started_at > m.started_at
          AND c.outcome IN ('answered', 'voicemail')
        UNION ALL
        SELECT a.started_at, 'callback_answered'
        FROM callback_attempts a
        JOIN calls target ON target.id = a.call_id
        WHERE (a.call_id = m.id OR target.number_key = m.number_key)
          AND a.dial_status = 'ANSWER'
          AND a.started_at > m.started_at
        UNION ALL
        SELECT d.decided_at, 'marked_' || d.disposition
        FROM caller_dispositions d
        WHERE (d.call_id = m.id OR d.number_key = m.number_key)
          AND (d.disposition = 'never' OR d.decided_at > m.started_at)
    ) x
    ORDER BY x.returned_at
    LIMIT 1
) r ON true
WHERE m.outcome = 'missed';
