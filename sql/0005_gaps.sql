-- When nobody was listening, and what filled the hole.
--
-- AMI has no replay: calls that start and end while no listener is logged in are invisible to
-- it. Each listener beats a heart in listener_heartbeats while it is logged in to AMI; a
-- listener that logs in after the last beat of every listener of its PBX has gone stale records
-- a gap and fills it from the PBX's own CDR/CEL tables. Calls found that way point at their gap.

CREATE TABLE listener_heartbeats (
    pbx       text        NOT NULL,
    listener  text        NOT NULL,
    alive_at  timestamptz NOT NULL,
    PRIMARY KEY (pbx, listener)
);

CREATE TABLE listener_gaps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pbx         text        NOT NULL,
    listener    text        NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    -- 'startup': no listener of this PBX was running; 'ami_cut': the AMI link was down.
    source      text        NOT NULL CHECK (source IN ('startup', 'ami_cut')),
    -- How the gap was filled: 'pending' until a pass ran; 'cel'/'cdr' the PBX table read;
    -- 'not_configured' when [reconcile] is off (the gap stays visible in the report);
    -- 'failed' when the source could not be read (detail says why).
    filled_by   text        NOT NULL DEFAULT 'pending'
                CHECK (filled_by IN ('pending', 'cel', 'cdr', 'not_configured', 'failed')),
    rows_added  integer     NOT NULL DEFAULT 0 CHECK (rows_added >= 0),
    detail      text        NOT NULL DEFAULT '',
    filled_at   timestamptz,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT listener_gaps_time_order CHECK (ended_at >= started_at)
);

CREATE INDEX listener_gaps_pbx_started_idx ON listener_gaps (pbx, started_at);

-- A call written by reconciliation names the gap it came from (NULL: seen live over AMI).
ALTER TABLE calls ADD COLUMN gap_id bigint REFERENCES listener_gaps (id) ON DELETE SET NULL;

-- How much a decision knows, for two writers of one call (two listeners, or a listener and a
-- reconciliation): a person reached beats a missed call, a seen end beats 'unknown_end'.
-- Equal evidence keeps the row already there, so the order of the writes does not matter.
CREATE FUNCTION call_evidence(outcome text, reason text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN outcome = 'answered' THEN 3
        WHEN outcome = 'voicemail' THEN 2
        WHEN reason = 'unknown_end' THEN 0
        ELSE 1
    END
$$;
