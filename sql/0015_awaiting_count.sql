-- How many callers await a callback, without summarising each of them.
--
-- The desk menu (*47) says how many callers wait before it names any. Reading the whole list
-- first made a desk hearing every line of a busy PBX wait for thousands of callers to be
-- summarised (bench/year.py: ~18 ms of window functions and sorting before the first word);
-- it now asks for the count (named query awaiting_menu_count, sql/queries_awaiting.sql) and
-- reads the list while the count is being said.
--
-- The count must be the list's length for the same window and lines, so which calls a reader
-- considers is written once: awaiting_in() below, the filter awaiting_callers() used to hold
-- inline. Both are SQL functions PostgreSQL inlines, so each query is planned as before, as if
-- the filter were written out in it.

-- The calls awaiting a callback with a missed call in [p_since, p_until) on p_lines (DIDs or
-- extensions, as in_scope() of sql/0007_line_scope.sql matches them; NULL: every line).
-- p_callable_only: only calls a desk phone may dial (callable, with a number key).
CREATE FUNCTION awaiting_in(p_since timestamptz, p_until timestamptz, p_lines text[],
                            p_callable_only boolean)
RETURNS SETOF awaiting_calls
LANGUAGE sql STABLE
AS $$
    SELECT m.*
    FROM awaiting_calls m
    WHERE m.started_at >= p_since AND m.started_at < p_until
      AND in_scope(p_lines, m.did, m.extensions)
      AND (NOT p_callable_only OR (m.callable AND m.number_key IS NOT NULL))
$$;

-- As in sql/0009_awaiting_state.sql, over awaiting_in().
CREATE OR REPLACE FUNCTION awaiting_callers(p_since timestamptz, p_until timestamptz,
                                            p_lines text[], p_new_since timestamptz,
                                            p_callable_only boolean)
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
        FROM awaiting_in(p_since, p_until, p_lines, p_callable_only) m
        -- One sort serves the window and DISTINCT ON: each caller's calls, the latest first
        -- (its values are the caller's); every figure is over all of them.
        WINDOW everyone AS (PARTITION BY m.caller ORDER BY m.started_at DESC, m.call_id DESC
                            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        ORDER BY m.caller, m.started_at DESC, m.call_id DESC
    ) s
$$;
