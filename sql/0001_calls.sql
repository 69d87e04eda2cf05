-- Calls as the listener decided them: one row per call (PBX + Linkedid).
--
-- Every inbound call is kept with its outcome, so that a later answered call or a voicemail
-- from the same number resolves the earlier missed ones; outbound calls are kept only when
-- answered (they resolve missed calls too). Internal calls are never stored.
-- number/name are stored exactly as the PBX gave them (attacker-controlled: bound parameters
-- only); number_key is the normalised form (E.164 when it parses) used for every comparison.

CREATE TABLE calls (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pbx               text        NOT NULL,
    linkedid          text        NOT NULL,
    direction         text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    outcome           text        NOT NULL CHECK (outcome IN ('answered', 'voicemail', 'missed')),
    reason            text        NOT NULL,
    number            text        NOT NULL,
    name              text        NOT NULL DEFAULT '',
    number_key        text,
    callable          boolean     NOT NULL,
    did               text        NOT NULL DEFAULT '',
    rang              text[]      NOT NULL DEFAULT '{}',
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL,
    ring_seconds      real        NOT NULL DEFAULT 0 CHECK (ring_seconds >= 0),
    reached_voicemail boolean     NOT NULL DEFAULT false,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calls_pbx_linkedid_key UNIQUE (pbx, linkedid),
    CONSTRAINT calls_time_order CHECK (ended_at >= started_at)
);

CREATE INDEX calls_number_key_started_idx ON calls (number_key, started_at);
CREATE INDEX calls_missed_started_idx ON calls (started_at) WHERE outcome = 'missed';

-- A missed call is returned by the first later call with the same number that reached
-- someone: an inbound call answered or with a voicemail left, or an answered outbound call.
CREATE VIEW missed_calls AS
SELECT m.id, m.pbx, m.linkedid, m.reason, m.number, m.name, m.number_key, m.callable, m.did,
       m.rang, m.started_at, m.ended_at, m.ring_seconds, m.reached_voicemail,
       r.returned_at, r.returned_how
FROM calls m
LEFT JOIN LATERAL (
    SELECT c.started_at AS returned_at, c.direction || '_' || c.outcome AS returned_how
    FROM calls c
    WHERE c.number_key = m.number_key
      AND c.started_at > m.started_at
      AND c.outcome IN ('answered', 'voicemail')
    ORDER BY c.started_at
    LIMIT 1
) r ON true
WHERE m.outcome = 'missed';
