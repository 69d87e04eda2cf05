-- Named queries of the morning report (callback_desk.report.query). Who is awaiting a callback
-- is the core's 'awaiting_document' query (queries_awaiting.sql); these add history and the
-- week.
-- Parameters are always placeholders; caller ID never reaches SQL text.
--
-- Filtering on one therapist ($n text[], NULL = everyone): in_scope() (sql/0007_line_scope.sql),
-- the one definition of the line scope.

-- name: report_returned
-- Callers with missed calls in [$1, $2) none of which still awaits a callback (report --all),
-- each summarised over those calls, with how the latest one was returned.
WITH windowed AS (
    SELECT m.*, coalesce(m.number_key, m.number) AS caller
    FROM missed_calls m
    WHERE m.started_at >= $1 AND m.started_at < $2
      AND in_scope($3::text[], m.did, m.extensions)
),
grouped AS (
    SELECT caller,
           (array_agg(number ORDER BY started_at DESC))[1]               AS number,
           (array_agg(number_key ORDER BY started_at DESC))[1]           AS number_key,
           (array_agg(name ORDER BY started_at DESC))[1]                 AS name,
           count(*)                                                      AS calls,
           min(started_at)                                               AS first_at,
           max(started_at)                                               AS last_at,
           (array_agg(reached_voicemail ORDER BY started_at DESC))[1]    AS reached_voicemail,
           (array_agg(did ORDER BY started_at DESC))[1]                  AS did,
           (array_agg(reason ORDER BY started_at DESC))[1]               AS reason,
           (array_agg(id ORDER BY started_at DESC))[1]                   AS last_call_id,
           bool_or(callable)                                             AS callable,
           (array_agg(returned_at ORDER BY started_at DESC))[1]          AS returned_at,
           (array_agg(returned_how ORDER BY started_at DESC))[1]         AS returned_how
    FROM windowed
    GROUP BY caller
    HAVING bool_and(returned_at IS NOT NULL)
),
lines AS (
    SELECT w.caller,
           array_agg(DISTINCT r.dial ORDER BY r.dial)      AS rang,
           array_agg(DISTINCT line_extension(r.dial))      AS extensions
    FROM windowed w, unnest(w.rang) AS r (dial)
    WHERE w.caller IN (SELECT caller FROM grouped)
    GROUP BY w.caller
)
SELECT g.*, coalesce(l.rang, '{}') AS rang,
       coalesce(array_remove(l.extensions, NULL), '{}') AS extensions,
       t.attempts, t.last_attempt_at
FROM grouped g
LEFT JOIN lines l USING (caller)
-- Callbacks placed towards the caller since their first missed call in the window (the same
-- summary as the 'awaiting_document' query's, over returned calls).
CROSS JOIN LATERAL attempts_since(g.number_key, g.first_at) t;

-- name: report_week
-- The week's picture and how the practice returned the callers it missed in [$1, $2), in one
-- statement over one read of the practice's missed calls ($4 text[] its lines; the week is
-- a few thousand missed calls of which a practice's are a few hundred, and reading them was
-- most of each of the two queries this was).
--
-- grid: missed inbound calls by ISO weekday (Monday first) and hour in time zone $3, 7 x 24
-- counts in that order.
--
-- The figures are judged on each caller's first missed call. Callers marked 'never' (spam,
-- wrong number) are left out. "Returned" is any way the view knows (they got through later, a
-- callback was answered, marked handled); the median counts only callbacks the practice placed.
-- "Never got through": no answered or voicemail inbound call from that number in the window.
WITH missed AS MATERIALIZED (
    SELECT m.id, m.number_key, m.number, m.started_at, m.direction
    FROM calls m
    WHERE m.outcome = 'missed'
      AND m.started_at >= $1 AND m.started_at < $2
      AND in_scope($4::text[], m.did, m.extensions)
),
firsts AS (
    SELECT DISTINCT ON (coalesce(f.number_key, f.number)) f.id, f.number_key, f.started_at
    FROM missed f
    ORDER BY coalesce(f.number_key, f.number), f.started_at
),
-- How each first call was returned: the missed_calls view's answer, asked of those calls only.
counted AS (
    SELECT f.number_key, f.started_at, v.returned_at, v.returned_how
    FROM firsts f
    JOIN missed_calls v ON v.id = f.id
    WHERE v.returned_how IS DISTINCT FROM 'marked_never'
),
cells AS (
    SELECT extract(isodow FROM started_at AT TIME ZONE $3::text)::int AS weekday,
           extract(hour FROM started_at AT TIME ZONE $3::text)::int   AS hour,
           count(*)                                                  AS calls
    FROM missed
    WHERE direction = 'inbound'
    GROUP BY 1, 2
)
SELECT count(*)                                                          AS callers,
       count(*) FILTER (WHERE started_at <= $2 - interval '24 hours')   AS judged,
       count(*) FILTER (WHERE started_at <= $2 - interval '24 hours'
                          AND returned_at <= started_at + interval '24 hours') AS returned_24h,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM returned_at - started_at))
           FILTER (WHERE returned_how IN ('outbound_answered', 'callback_answered'))
                                                                         AS median_seconds,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM calls c
           WHERE c.number_key = counted.number_key AND c.direction = 'inbound'
             AND c.outcome IN ('answered', 'voicemail')
             AND c.started_at >= $1 AND c.started_at < $2))              AS never_got_through,
       (SELECT array_agg(coalesce(x.calls, 0) ORDER BY d.d, h.h)
        FROM generate_series(1, 7) AS d (d)
        CROSS JOIN generate_series(0, 23) AS h (h)
        LEFT JOIN cells x ON x.weekday = d.d AND x.hour = h.h)           AS grid
FROM counted;
