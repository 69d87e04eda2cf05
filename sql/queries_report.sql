-- Named queries of the morning report (callback_desk.report.query).
-- Parameters are always placeholders; caller ID never reaches SQL text.
--
-- Filtering on one therapist ($n text[], NULL = everyone): a missed call matches when its DID is
-- in the list, or when one of the phones it rang is: rang holds Dial strings such as
-- 'PJSIP/100@phones' or '100@phones', reduced to '100' (keep in sync with
-- callback_desk.report.model.extension).

-- name: report_callers
-- One row per caller with missed calls in [$1, $2). A caller still awaiting a callback is
-- summarised over their unreturned calls; with $3 (include returned) a returned caller is
-- summarised over all their missed calls, with how the latest one was returned.
-- Most urgent first: awaiting, then most calls, then most recent.
WITH windowed AS (
    SELECT m.*,
           coalesce(m.number_key, m.number) AS caller,
           bool_or(m.returned_at IS NULL)
               OVER (PARTITION BY coalesce(m.number_key, m.number)) AS awaiting
    FROM missed_calls m
    WHERE m.started_at >= $1 AND m.started_at < $2
      AND ($4::text[] IS NULL
           OR m.did = ANY ($4::text[])
           OR EXISTS (SELECT 1 FROM unnest(m.rang) AS r (dial)
                      WHERE split_part(regexp_replace(r.dial, '^[^/@]*/', ''), '@', 1)
                            = ANY ($4::text[])))
),
kept AS (
    SELECT * FROM windowed
    WHERE (returned_at IS NULL OR NOT awaiting) AND ($3::boolean OR awaiting)
),
grouped AS (
    SELECT caller,
           bool_or(awaiting)                                             AS awaiting,
           (array_agg(number ORDER BY started_at DESC))[1]               AS number,
           (array_agg(number_key ORDER BY started_at DESC))[1]           AS number_key,
           (array_agg(name ORDER BY started_at DESC))[1]                 AS name,
           count(*)                                                      AS calls,
           min(started_at)                                               AS first_at,
           max(started_at)                                               AS last_at,
           (array_agg(reached_voicemail ORDER BY started_at DESC))[1]    AS reached_voicemail,
           (array_agg(did ORDER BY started_at DESC))[1]                  AS did,
           (array_agg(reason ORDER BY started_at DESC))[1]               AS reason,
           (array_agg(id ORDER BY started_at DESC))[1]                   AS last_id,
           array_agg(id)                                                 AS ids,
           bool_or(callable)                                             AS callable,
           (array_agg(returned_at ORDER BY started_at DESC))[1]          AS returned_at,
           (array_agg(returned_how ORDER BY started_at DESC))[1]         AS returned_how
    FROM kept
    GROUP BY caller
),
rangs AS (
    SELECT k.caller, array_agg(DISTINCT r.dial ORDER BY r.dial) AS rang
    FROM kept k, unnest(k.rang) AS r (dial)
    GROUP BY k.caller
),
targets AS (
    -- Every call row of the caller: the desk may have dialled back from an older entry.
    -- Two equi-joins rather than one OR-join, so the planner can hash them.
    SELECT g.caller, t.id FROM grouped g JOIN calls t ON t.number_key = g.number_key
    UNION
    SELECT g.caller, unnest(g.ids) FROM grouped g
),
attempts AS (
    -- Callbacks placed towards the caller since their first missed call in the window.
    SELECT g.caller, count(a.id) AS attempts, max(a.started_at) AS last_attempt_at
    FROM targets tg
    JOIN grouped g ON g.caller = tg.caller
    JOIN callback_attempts a ON a.call_id = tg.id AND a.started_at >= g.first_at
    GROUP BY g.caller
)
SELECT g.*, coalesce(rangs.rang, '{}') AS rang,
       coalesce(attempts.attempts, 0) AS attempts, attempts.last_attempt_at
FROM grouped g
LEFT JOIN rangs USING (caller)
LEFT JOIN attempts USING (caller)
ORDER BY g.awaiting DESC, g.calls DESC, g.last_at DESC, g.caller;

-- name: report_heatmap
-- Missed inbound calls in [$1, $2) by ISO weekday (1 = Monday) and hour in time zone $3.
SELECT extract(isodow FROM started_at AT TIME ZONE $3::text)::int AS weekday,
       extract(hour FROM started_at AT TIME ZONE $3::text)::int   AS hour,
       count(*)                                                  AS calls
FROM calls m
WHERE m.outcome = 'missed' AND m.direction = 'inbound'
  AND m.started_at >= $1 AND m.started_at < $2
  AND ($4::text[] IS NULL
       OR m.did = ANY ($4::text[])
       OR EXISTS (SELECT 1 FROM unnest(m.rang) AS r (dial)
                  WHERE split_part(regexp_replace(r.dial, '^[^/@]*/', ''), '@', 1)
                        = ANY ($4::text[])))
GROUP BY 1, 2;

-- name: report_week
-- How the practice returned the callers it missed in [$1, $2), judged on each caller's first
-- missed call. Callers marked 'never' (spam, wrong number) are left out. "Returned" is any way
-- the view knows (they got through later, a callback was answered, marked handled); the median
-- counts only callbacks the practice placed. "Never got through": no answered or voicemail
-- inbound call from that number in the window.
WITH firsts AS (
    SELECT DISTINCT ON (coalesce(m.number_key, m.number))
           m.number_key, m.started_at, m.returned_at, m.returned_how
    FROM missed_calls m
    WHERE m.started_at >= $1 AND m.started_at < $2
      AND ($3::text[] IS NULL
           OR m.did = ANY ($3::text[])
           OR EXISTS (SELECT 1 FROM unnest(m.rang) AS r (dial)
                      WHERE split_part(regexp_replace(r.dial, '^[^/@]*/', ''), '@', 1)
                            = ANY ($3::text[])))
    ORDER BY coalesce(m.number_key, m.number), m.started_at
),
counted AS (
    SELECT * FROM firsts WHERE returned_how IS DISTINCT FROM 'marked_never'
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
             AND c.started_at >= $1 AND c.started_at < $2))              AS never_got_through
FROM counted;

-- name: report_session
-- These queries are costed high (a lateral subquery per missed call), which makes PostgreSQL
-- JIT-compile them: ~300 ms of compiling for ~30 ms of work. LOCAL: this transaction only.
SET LOCAL jit = off;
