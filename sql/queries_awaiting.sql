-- Who is awaiting a callback: the one definition (callback_desk.core.awaiting), used by the
-- report, the desk-phone menu and the inbox. Parameters are always bound.
--
-- Which missed calls await a callback is the rule of sql/0009_awaiting_state.sql
-- (awaiting_rule()), kept in the awaiting_calls table by triggers on every write;
-- awaiting_callers() summarises those calls per caller for a window and a set of lines. These
-- queries choose what to read of it, in which order, and how much.
--
-- Parameters shared by all of them: callers with a missed call in [$1, $2) not yet returned;
-- $3 the lines in scope (DIDs or extensions, as in_scope() matches them:
-- sql/0007_line_scope.sql), NULL for every line; $4 calls at or after it count as new (the last
-- business day's closing); $5 only calls the desk phone may dial (callable, with a number key).

-- name: awaiting_document
-- Every caller, most recent first, each with the callbacks placed towards them since their
-- first unreturned call: as one JSON document, which a reader of tens of thousands of callers
-- decodes in one call rather than value by value (callback_desk.core.awaiting's awaiting_rows).
-- The names of the columns, then each caller as an array of their values in that order: an
-- object per caller repeated every name, which PostgreSQL spent ~70 ms writing and Python ~35 ms
-- reading for the 75-day report of bench/year.py (15,839 callers). Timestamps are written in
-- the session's time zone.
SELECT json_build_array(
    ARRAY['caller', 'number', 'number_key', 'name', 'callable', 'calls', 'new_calls', 'first_at',
          'last_at', 'last_call_id', 'did', 'reason', 'reached_voicemail', 'rang', 'extensions',
          'attempts', 'last_attempt_at'],
    coalesce(json_agg(json_build_array(
        a.caller, a.number, a.number_key, a.name, a.callable, a.calls, a.new_calls, a.first_at,
        a.last_at, a.last_call_id, a.did, a.reason, a.reached_voicemail, a.rang, a.extensions,
        a.attempts, a.last_attempt_at
    ) ORDER BY a.last_at DESC, a.caller), '[]')
)::text
FROM (
    SELECT c.*, t.attempts, t.last_attempt_at
    FROM awaiting_callers($1, $2, $3, $4, $5) c
    CROSS JOIN LATERAL attempts_since(c.number_key, c.first_at) t
) a;

-- name: awaiting_menu
-- The desk menu's list: what it reads out of each caller, most recent first, without the
-- summary's other figures.
SELECT c.last_call_id, c.number_key, c.number, c.calls, c.last_at
FROM awaiting_callers($1, $2, $3, $4, $5) c
ORDER BY c.last_at DESC, c.caller;

-- name: awaiting_menu_count
-- How many callers 'awaiting_menu' lists, for the same $1..$3 (it takes no $4 or $5): what the
-- desk menu says before it names anyone. Over the same calls (awaiting_in(), which
-- awaiting_callers() reads too), without summarising each caller.
SELECT count(DISTINCT m.caller) FROM awaiting_in($1, $2, $3, true) m;

-- name: awaiting_page
-- One page of the inbox: $7 callers from the $8th, most urgent first (most calls, then the
-- most recent), as 'awaiting_document' summarises them; $6 the last digits of their number (NULL:
-- everyone). total: how many callers match, on every row. The digits are matched on caller
-- (the number key, else the number as received), which every call of a caller shares: the
-- filter then applies to the calls themselves, before they are summarised.
--
-- In two steps, so that a front desk hearing every line of a hosted PBX (thousands of callers)
-- does not wait for every one of them to be summarised to be shown fifty: the page's callers are
-- chosen by the two figures the order needs, counted and compared in one pass over the window's
-- calls (ranked); only they are then summarised by awaiting_callers(), whose filter on caller
-- PostgreSQL pushes down to awaiting_calls_caller_idx. Both steps read the calls of
-- awaiting_in(), so a caller's calls and last_at are the same in each, and so is the order.
WITH ranked AS MATERIALIZED (
    SELECT m.caller, count(*) AS calls, max(m.started_at) AS last_at, count(*) OVER () AS total
    FROM awaiting_in($1, $2, $3, $5) m
    WHERE $6::text IS NULL OR right(m.caller, length($6::text)) = $6::text
    GROUP BY m.caller
    ORDER BY calls DESC, last_at DESC, m.caller
    LIMIT $7 OFFSET $8
)
SELECT c.*, (SELECT r.total FROM ranked r LIMIT 1) AS total, t.attempts, t.last_attempt_at
FROM awaiting_callers($1, $2, $3, $4, $5) c
CROSS JOIN LATERAL attempts_since(c.number_key, c.first_at) t
-- An array, not a join: a condition PostgreSQL can push into the function's window.
WHERE c.caller = ANY (ARRAY(SELECT r.caller FROM ranked r))
ORDER BY c.calls DESC, c.last_at DESC, c.caller;
