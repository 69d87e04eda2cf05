-- Who is awaiting a callback, kept instead of recomputed on every read.
--
-- On a hosted PBX's year (bench/year.py) working out "who awaits a callback" on every read took
-- three index probes per caller and one per missed call: a desk hearing every line waited on
-- thousands of them at each *47, a long report on tens of thousands. Now:
--
-- 1. awaiting_rule(numbers, withheld calls) is THE rule, in one place: a missed call awaits a
--    callback until something after it reached that number — a call from or to it that was
--    answered or left a message, an answered callback — or someone marked the caller handled
--    (after the call) or never; a withheld call (no number key) only by a mark on that very
--    call. It is the missed_calls view's rule (a call awaits exactly when the view has no
--    returned_at for it), in the form that reads a number's latest such event once.
-- 2. awaiting_calls holds exactly the missed calls the rule says await a callback, whatever
--    their age (the look-back is the reader's window), with what the lists show of each.
-- 3. Statement triggers on every table the rule reads (calls, callback_attempts,
--    caller_dispositions) apply the rule again to the numbers and calls a statement touched,
--    whoever wrote: the listener (a second listener's upgrade too), gap reconciliation, the desk
--    menu and click-to-call, the inbox, retention. They run with the owner's rights (SECURITY
--    DEFINER): no component role may write awaiting_calls itself.
-- 4. awaiting_callers() summarises the table per caller for a window and a set of lines: the
--    report, the desk menu and the inbox read it (sql/queries_awaiting.sql).
--
-- tests/db/test_awaiting_state.py rebuilds the table from the base tables after a realistic
-- mixed workload and after random sequences of writes, and compares.

CREATE FUNCTION awaiting_rule(p_keys text[], p_withheld bigint[])
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
        JOIN calls m ON m.number_key = r.number_key
        WHERE m.outcome = 'missed' AND NOT r.never
          AND m.started_at >= coalesce(r.until_at, '-infinity')
        UNION ALL
        SELECT m.*
        FROM calls m
        WHERE m.id = ANY (p_withheld) AND m.number_key IS NULL AND m.outcome = 'missed'
    ) m
    -- Not marked on this very call. A scalar subquery, so that it stays a probe of
    -- caller_dispositions_call_idx per candidate call (as an anti-join the planner may hash
    -- every disposition ever made, for the handful of calls a statement touched).
    WHERE (
        SELECT count(*) FROM caller_dispositions d
        WHERE d.call_id = m.id AND (d.disposition = 'never' OR d.decided_at > m.started_at)
    ) = 0
$$;

-- A set of text as one array, sorted and without repeats.
CREATE FUNCTION sorted_set(items text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ARRAY(SELECT DISTINCT i FROM unnest(items) AS i ORDER BY i);

CREATE TABLE awaiting_calls (
    call_id           bigint      PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    -- Whom the lists group by: the number key, or the number as received when it has none.
    -- Compared byte by byte: a sort of thousands of callers need not ask the locale.
    caller            text        COLLATE "C" NOT NULL,
    number            text        NOT NULL,
    name              text        NOT NULL,
    number_key        text,
    callable          boolean     NOT NULL,
    did               text        NOT NULL,
    reason            text        NOT NULL,
    reached_voicemail boolean     NOT NULL,
    rang              text[]      NOT NULL,  -- the call's dial strings, sorted_set()
    extensions        text[]      NOT NULL,  -- calls.extensions, sorted_set()
    started_at        timestamptz NOT NULL
);

CREATE INDEX awaiting_calls_started_idx ON awaiting_calls (started_at);
CREATE INDEX awaiting_calls_caller_idx ON awaiting_calls (caller, started_at);

-- Apply the rule again to these numbers and these calls (any of them: a call's number is looked
-- up), making awaiting_calls agree with it there.
--
-- Two writers touching one number at once (a missed call being written while someone marks the
-- caller handled) must not each decide from a snapshot without the other's row. Each takes this
-- state's one transaction lock before it reads: the later waits for the earlier to commit and
-- then, at READ COMMITTED, sees its rows. One lock rather than one per number: a statement's
-- cascades (retention deleting calls with their callbacks and dispositions) refresh in several
-- steps, and locks per number taken in steps could deadlock with another writer's; writers queue
-- only from their statement's end to their commit (milliseconds: the listener commits each batch
-- at once, people's clicks are one statement each). At REPEATABLE READ a writer's snapshot
-- predates the lock, so such writes are refused; SERIALIZABLE writers are kept apart by
-- PostgreSQL itself.
CREATE FUNCTION awaiting_refresh(p_keys text[], p_calls bigint[]) RETURNS void
LANGUAGE plpgsql
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
        SELECT c.number_key FROM calls c WHERE c.id = ANY (p_calls) AND c.number_key IS NOT NULL
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
        -- A number's calls by their caller (the number key, when there is one): one index.
        WHERE ((a.caller = ANY (numbers) AND a.number_key IS NOT NULL)
               OR a.call_id = ANY (p_calls))
          AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.id = a.call_id)
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

-- The trigger of every table the rule reads, after each statement: the numbers and calls of the
-- rows it wrote (old and new). TG_ARGV[0] names the column that holds the call (calls.id,
-- callback_attempts.call_id, caller_dispositions.call_id). A call with a number is refreshed
-- with its number, so of calls' own rows only the withheld ones are named by id (the listener
-- writes hundreds at a time); a callback or a disposition names its call, whose number the
-- refresh looks up.
CREATE FUNCTION awaiting_written() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    keys text[];
    ids bigint[];
    old_keys text[];
    old_ids bigint[];
    which text := CASE TG_TABLE_NAME WHEN 'calls' THEN 'number_key IS NULL' ELSE 'true' END;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('SELECT array_agg(number_key), array_agg(%I) FILTER (WHERE %s) FROM new_rows',
                       TG_ARGV[0], which)
            INTO keys, ids;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format('SELECT array_agg(number_key), array_agg(%I) FILTER (WHERE %s) FROM old_rows',
                       TG_ARGV[0], which)
            INTO old_keys, old_ids;
        keys := keys || old_keys;
        ids := ids || old_ids;
    END IF;
    PERFORM awaiting_refresh(keys, ids);
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_awaiting_inserted AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('id');
CREATE TRIGGER calls_awaiting_updated AFTER UPDATE ON calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('id');
CREATE TRIGGER calls_awaiting_deleted AFTER DELETE ON calls
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('id');

CREATE TRIGGER callback_attempts_awaiting_inserted AFTER INSERT ON callback_attempts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('call_id');
CREATE TRIGGER callback_attempts_awaiting_updated AFTER UPDATE ON callback_attempts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('call_id');
CREATE TRIGGER callback_attempts_awaiting_deleted AFTER DELETE ON callback_attempts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('call_id');

CREATE TRIGGER caller_dispositions_awaiting_inserted AFTER INSERT ON caller_dispositions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('call_id');
CREATE TRIGGER caller_dispositions_awaiting_updated AFTER UPDATE ON caller_dispositions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('call_id');
CREATE TRIGGER caller_dispositions_awaiting_deleted AFTER DELETE ON caller_dispositions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_written('call_id');

-- The rule applied to every number and every withheld call: what the state is from scratch.
CREATE FUNCTION awaiting_rebuild() RETURNS void
LANGUAGE sql
AS $$
    SELECT awaiting_refresh(
        ARRAY(SELECT DISTINCT number_key FROM calls
              WHERE outcome = 'missed' AND number_key IS NOT NULL),
        ARRAY(SELECT id FROM calls WHERE outcome = 'missed' AND number_key IS NULL))
$$;

-- TRUNCATE fires no row or statement trigger of DELETE: emptying the attempts or the
-- dispositions (an administrator's act, never a component's) rebuilds the whole state. Emptying
-- calls empties awaiting_calls with it (TRUNCATE ... CASCADE, the foreign key).
CREATE FUNCTION awaiting_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM awaiting_rebuild();
    RETURN NULL;
END
$$;

CREATE TRIGGER callback_attempts_awaiting_truncated AFTER TRUNCATE ON callback_attempts
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_truncated();
CREATE TRIGGER caller_dispositions_awaiting_truncated AFTER TRUNCATE ON caller_dispositions
    FOR EACH STATEMENT EXECUTE FUNCTION awaiting_truncated();

REVOKE ALL ON FUNCTION awaiting_written() FROM PUBLIC;
REVOKE ALL ON FUNCTION awaiting_truncated() FROM PUBLIC;
REVOKE ALL ON FUNCTION awaiting_refresh(text[], bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION awaiting_rebuild() FROM PUBLIC;

-- What awaits a callback now, from the calls already stored.
SELECT awaiting_rebuild();
ANALYZE awaiting_calls;

-- Callbacks placed towards a number since a moment: how many, and the latest.
CREATE FUNCTION attempts_since(p_number_key text, p_since timestamptz)
RETURNS TABLE (attempts bigint, last_attempt_at timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT count(*), max(a.started_at)
    FROM callback_attempts a
    WHERE a.number_key = p_number_key AND a.started_at >= p_since
$$;

-- The arrays of a group end to end (a caller's lines, before sorted_set()).
CREATE AGGREGATE concatenated(text[]) (SFUNC = array_cat, STYPE = text[]);

-- The callers awaiting a callback with a missed call in [p_since, p_until) on p_lines (DIDs or
-- extensions, as in_scope() of sql/0007_line_scope.sql matches them; NULL: every line), each
-- summarised over those calls: the latest call's number, name, line and reason, how many calls
-- and how many at or after p_new_since, the first and the last, every dial string and extension
-- they rang. p_callable_only: only calls a desk phone may dial. One row per caller, unordered:
-- the named queries order and page it.
--
-- One pass, whatever the planner believes of the table's size: the window's calls sorted by
-- caller (latest first) and every figure read off that sort; no join a wrong estimate could
-- turn into a nested loop. A reader that leaves a column out (the desk menu) does not pay for it.
CREATE FUNCTION awaiting_callers(p_since timestamptz, p_until timestamptz, p_lines text[],
                                 p_new_since timestamptz, p_callable_only boolean)
RETURNS TABLE (caller text, number text, number_key text, name text, callable boolean,
               calls bigint, new_calls bigint, first_at timestamptz, last_at timestamptz,
               last_call_id bigint, did text, reason text, reached_voicemail boolean,
               rang text[], extensions text[])
LANGUAGE sql STABLE
AS $$
    SELECT s.caller, s.number, s.number_key, s.name, s.any_callable, s.calls, s.new_calls,
           s.first_at, s.last_at, s.call_id, s.did, s.reason, s.reached_voicemail,
           -- A caller with one call (most) has that call's set, sorted already.
           CASE WHEN s.calls = 1 THEN s.rang ELSE sorted_set(s.every_rang) END,
           CASE WHEN s.calls = 1 THEN s.extensions ELSE sorted_set(s.every_extension) END
    FROM (
        SELECT DISTINCT ON (m.caller) m.*,
               bool_or(m.callable) OVER everyone                        AS any_callable,
               count(*) OVER everyone                                   AS calls,
               count(*) FILTER (WHERE m.started_at >= p_new_since) OVER everyone AS new_calls,
               min(m.started_at) OVER everyone                          AS first_at,
               max(m.started_at) OVER everyone                          AS last_at,
               concatenated(m.rang) OVER everyone                       AS every_rang,
               concatenated(m.extensions) OVER everyone                 AS every_extension
        FROM awaiting_calls m
        WHERE m.started_at >= p_since AND m.started_at < p_until
          AND in_scope(p_lines, m.did, m.extensions)
          AND (NOT p_callable_only OR (m.callable AND m.number_key IS NOT NULL))
        -- One sort serves the window and DISTINCT ON: each caller's calls, the latest first
        -- (its values are the caller's); every figure is over all of them.
        WINDOW everyone AS (PARTITION BY m.caller ORDER BY m.started_at DESC, m.call_id DESC
                            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        ORDER BY m.caller, m.started_at DESC, m.call_id DESC
    ) s
$$;
