-- Who is awaiting a callback: the one definition (callback_desk.core.awaiting), used by the
-- report, the desk-phone menu and the inbox. Parameters are always bound.

-- name: awaiting
-- One row per caller with a missed call in [$1, $2) not yet returned, summarised over those
-- unreturned calls. $3: the lines in scope (DIDs or extensions, as in_scope() matches them:
-- sql/0007_line_scope.sql), NULL for every line. $4: calls at or after it count as new (the last
-- business day's closing). $5: only calls the desk phone may dial (callable, with a number key).
--
-- A missed call is returned by the first later call from that number that reached someone, an
-- answered callback to that number, or a verdict ('handled' after it, 'never' at any time) —
-- the rule of the missed_calls view (sql/0003_awaiting.sql). Resolution is per number, so a
-- call is returned exactly when it is older than the number's latest such event: one probe per
-- caller instead of one per missed call. Withheld numbers (no key) are resolved per call only.
WITH recent AS (
    SELECT m.id, m.number, m.number_key, m.name, m.callable, m.did, m.reason,
           m.reached_voicemail, m.rang, m.extensions, m.started_at,
           coalesce(m.number_key, m.number) AS caller
    FROM calls m
    WHERE m.outcome = 'missed'
      AND m.started_at >= $1 AND m.started_at < $2
      AND in_scope($3::text[], m.did, m.extensions)
      AND (NOT $5::boolean OR (m.callable AND m.number_key IS NOT NULL))
),
settled AS (
    SELECT k.number_key, greatest(c.at, a.at, d.at) AS until_at, coalesce(d.never, false) AS never
    FROM (SELECT DISTINCT number_key FROM recent WHERE number_key IS NOT NULL) k
    CROSS JOIN LATERAL (
        SELECT max(c.started_at) AS at
        FROM calls c
        WHERE c.number_key = k.number_key AND c.outcome IN ('answered', 'voicemail')
    ) c
    CROSS JOIN LATERAL (
        SELECT max(a.started_at) AS at
        FROM callback_attempts a
        WHERE a.number_key = k.number_key AND a.dial_status = 'ANSWER'
    ) a
    CROSS JOIN LATERAL (
        SELECT max(d.decided_at) AS at, bool_or(d.disposition = 'never') AS never
        FROM caller_dispositions d
        WHERE d.number_key = k.number_key
    ) d
),
open AS (
    SELECT r.*
    FROM recent r
    LEFT JOIN settled s ON s.number_key = r.number_key
    WHERE (r.number_key IS NULL
           OR (NOT s.never AND r.started_at > coalesce(s.until_at, '-infinity')))
      AND NOT EXISTS (
          SELECT 1 FROM caller_dispositions d
          WHERE d.call_id = r.id AND (d.disposition = 'never' OR d.decided_at > r.started_at))
),
grouped AS (
    SELECT caller,
           (array_agg(number ORDER BY started_at DESC))[1]            AS number,
           (array_agg(number_key ORDER BY started_at DESC))[1]        AS number_key,
           (array_agg(name ORDER BY started_at DESC))[1]              AS name,
           (array_agg(id ORDER BY started_at DESC))[1]                AS last_call_id,
           (array_agg(did ORDER BY started_at DESC))[1]               AS did,
           (array_agg(reason ORDER BY started_at DESC))[1]            AS reason,
           (array_agg(reached_voicemail ORDER BY started_at DESC))[1] AS reached_voicemail,
           bool_or(callable)                                          AS callable,
           count(*)                                                   AS calls,
           count(*) FILTER (WHERE started_at >= $4)                   AS new_calls,
           min(started_at)                                            AS first_at,
           max(started_at)                                            AS last_at
    FROM open
    GROUP BY caller
),
lines AS (
    SELECT o.caller,
           array_agg(DISTINCT r.dial ORDER BY r.dial)      AS rang,
           array_agg(DISTINCT line_extension(r.dial))      AS extensions
    FROM open o, unnest(o.rang) AS r (dial)
    GROUP BY o.caller
)
SELECT g.*, coalesce(l.rang, '{}') AS rang,
       coalesce(array_remove(l.extensions, NULL), '{}') AS extensions,
       coalesce(t.attempts, 0) AS attempts, t.last_attempt_at
FROM grouped g
LEFT JOIN lines l USING (caller)
LEFT JOIN LATERAL (
    -- Callbacks placed towards the caller since their first unreturned call.
    SELECT count(*) AS attempts, max(a.started_at) AS last_attempt_at
    FROM callback_attempts a
    WHERE a.number_key = g.number_key AND a.started_at >= g.first_at
) t ON true
ORDER BY g.last_at DESC, g.caller;
