-- The awaiting state's refresh (sql/0009_awaiting_state.sql), number by number whatever the
-- statistics say.
--
-- On a database whose calls were never analysed (a fresh install, or autovacuum not yet round
-- after a burst), the planner guesses that a number has 0.5 % of the table's calls and that
-- few calls are missed ones. The refresh after each of the listener's batches then read every
-- missed call of the table into a hash (or ANDed the bitmap of every missed call into each
-- number's probe) and tested every row of awaiting_calls against the batch's numbers: a batch of
-- 1,000 missed calls took longer the larger the table, and once plpgsql kept its generic plan,
-- seconds at 100,000 calls; an analysed table gave per-number probes and a few milliseconds.
--
-- Each statement now reads only the rows of the numbers and calls it was given, one index range
-- per number or call, in a plan whose shape does not depend on statistics (they still choose
-- how each probe reads its index):
--
-- * awaiting_rule() reads a number's calls since it was last reached with a LATERAL subquery
--   per number (calls_number_key_started_idx), and a withheld call with one per call id
--   (calls_pkey). Each subquery ends in OFFSET 0, PostgreSQL's fence: the planner may neither
--   flatten it into a join (which it would hash on a bad estimate) nor push the outcome test
--   into it (which, matched with the partial calls_missed_started_idx, made it AND every
--   missed call's bitmap into each probe). The outcome is tested on the few rows a probe
--   returns.
-- * awaiting_refresh() lists the awaiting_calls rows to drop the same way, per number
--   (awaiting_calls_caller_idx), and deletes them by call_id (the primary key).
-- * Its statements are not JIT-compiled (see below).
--
-- The rule itself is unchanged; tests/db/test_awaiting_state.py still rebuilds the state from
-- scratch after every writer and compares.

CREATE OR REPLACE FUNCTION awaiting_rule(p_keys text[], p_withheld bigint[])
RETURNS SETOF calls
LANGUAGE sql STABLE
AS $$
    WITH reached AS (
        -- When each number was last reached or marked, and whether it was marked never.
        SELECT n.number_key, greatest(c.at, a.at, d.at) AS until_at,
               coalesce(d.never, false) AS never
        FROM (SELECT DISTINCT k FROM unnest(p_keys) AS k WHERE k IS NOT NULL) n (number_key)
        CROSS JOIN LATERAL (
            SELECT max(c.started_at) AS at
            FROM calls c
            WHERE c.number_key = n.number_key AND c.outcome IN ('answered', 'voicemail')
        ) c
        CROSS JOIN LATERAL (
            SELECT max(a.started_at) AS at
            FROM callback_attempts a
            WHERE a.number_key = n.number_key AND a.dial_status = 'ANSWER'
        ) a
        CROSS JOIN LATERAL (
            SELECT max(d.decided_at) AS at, bool_or(d.disposition = 'never') AS never
            FROM caller_dispositions d
            WHERE d.number_key = n.number_key
        ) d
    )
    SELECT m.*
    FROM (
        -- Returned by an event after it: a call at the very moment of the event still awaits.
        -- Every call of a number after its last answered one is a missed one, so this is a
        -- short range of calls_number_key_started_idx, however often the number called.
        SELECT m.*
        FROM reached r
        CROSS JOIN LATERAL (
            SELECT m.*
            FROM calls m
            WHERE m.number_key = r.number_key
              AND m.started_at >= coalesce(r.until_at, '-infinity')
            OFFSET 0  -- one probe per number (see the top of sql/0013_awaiting_by_number.sql)
        ) m
        WHERE NOT r.never AND m.outcome = 'missed'
        UNION ALL
        SELECT m.*
        FROM (SELECT DISTINCT i FROM unnest(p_withheld) AS i) w (id)
        CROSS JOIN LATERAL (
            SELECT m.* FROM calls m WHERE m.id = w.id
            OFFSET 0  -- one probe per call
        ) m
        WHERE m.number_key IS NULL AND m.outcome = 'missed'
    ) m
    -- Not marked on this very call. A scalar subquery, so that it stays a probe of
    -- caller_dispositions_call_idx per candidate call (as an anti-join the planner may hash
    -- every disposition ever made, for the handful of calls a statement touched).
    WHERE (
        SELECT count(*) FROM caller_dispositions d
        WHERE d.call_id = m.id AND (d.disposition = 'never' OR d.decided_at > m.started_at)
    ) = 0
$$;

-- Apply the rule again to these numbers and these calls (any of them: a call's number is looked
-- up), making awaiting_calls agree with it there. Locking as in sql/0009_awaiting_state.sql.
CREATE OR REPLACE FUNCTION awaiting_refresh(p_keys text[], p_calls bigint[]) RETURNS void
LANGUAGE plpgsql
-- Not a plan choice: without statistics the planner prices each probe at 0.5 % of the table,
-- so a batch's 1,000 probes cost past jit_above_cost and each statement was compiled (0.5 s)
-- for a few milliseconds of index probes. Probes never gain from JIT.
SET jit = off
AS $$
DECLARE
    numbers text[];
BEGIN
    IF coalesce(cardinality(p_keys), 0) = 0 AND coalesce(cardinality(p_calls), 0) = 0 THEN
        RETURN;
    END IF;
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'calls, callback attempts and dispositions are written at READ COMMITTED '
            'or SERIALIZABLE: the awaiting state is kept up to date statement by statement'
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM pg_advisory_xact_lock(1128355649);  -- 'CAWA' in ASCII: this state's lock
    numbers := ARRAY(
        SELECT k FROM unnest(p_keys) AS k WHERE k IS NOT NULL
        UNION
        SELECT c.number_key
        FROM unnest(p_calls) AS i (id)
        CROSS JOIN LATERAL (SELECT c.number_key FROM calls c WHERE c.id = i.id OFFSET 0) c
        WHERE c.number_key IS NOT NULL
    );

    WITH wanted AS MATERIALIZED (
        SELECT m.id, coalesce(m.number_key, m.number) AS caller, m.number, m.name, m.number_key,
               m.callable, m.did, m.reason, m.reached_voicemail,
               -- Most calls rang one phone: a set already.
               CASE WHEN cardinality(m.rang) < 2 THEN m.rang ELSE sorted_set(m.rang) END,
               CASE WHEN cardinality(m.extensions) < 2 THEN m.extensions
                    ELSE sorted_set(m.extensions) END,
               m.started_at
        FROM awaiting_rule(numbers, p_calls) m
    ),
    gone AS (
        DELETE FROM awaiting_calls a
        -- The rows of these numbers (by caller: the number key, when there is one) and of these
        -- calls that the rule no longer wants, found per number and deleted by primary key.
        WHERE a.call_id = ANY (ARRAY(
            SELECT x.call_id
            FROM unnest(numbers) AS k
            CROSS JOIN LATERAL (
                SELECT x.call_id, x.number_key FROM awaiting_calls x WHERE x.caller = k
                OFFSET 0  -- one probe per number
            ) x
            WHERE x.number_key IS NOT NULL
            UNION ALL
            SELECT i FROM unnest(p_calls) AS i
            EXCEPT
            SELECT w.id FROM wanted w
        ))
    )
    INSERT INTO awaiting_calls AS a (call_id, caller, number, name, number_key, callable, did,
                                     reason, reached_voicemail, rang, extensions, started_at)
    SELECT * FROM wanted
    ON CONFLICT (call_id) DO UPDATE
    SET caller = EXCLUDED.caller, number = EXCLUDED.number, name = EXCLUDED.name,
        number_key = EXCLUDED.number_key, callable = EXCLUDED.callable, did = EXCLUDED.did,
        reason = EXCLUDED.reason, reached_voicemail = EXCLUDED.reached_voicemail,
        rang = EXCLUDED.rang, extensions = EXCLUDED.extensions, started_at = EXCLUDED.started_at
    -- A row the statement left as it was is not rewritten (no dead tuple per refresh).
    WHERE (a.*) IS DISTINCT FROM (EXCLUDED.*);
END
$$;
