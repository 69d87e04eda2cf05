-- Named queries of the desk-phone menu and click-to-call (callback_desk.callbacks).
-- Parameters are always bound ($1...): stored caller ID never becomes SQL text.

-- name: cb_waiting
-- Callers still awaiting a callback whose last missed call is in [$1, $2), most recent first,
-- limited to the lines an extension hears: $3 = true for every line, else DIDs/extensions $4
-- matched against the DID dialled and the extensions that rang. Only callable numbers: the
-- desk phone cannot call back a withheld one.
SELECT (array_agg(id ORDER BY started_at DESC))[1]          AS last_id,
       number_key,
       (array_agg(number ORDER BY started_at DESC))[1]      AS number,
       count(*)                                             AS calls,
       max(started_at)                                      AS last_at
FROM missed_calls
WHERE returned_at IS NULL
  AND callable
  AND number_key IS NOT NULL
  AND started_at >= $1 AND started_at < $2
  AND ($3 OR did = ANY($4::text[]) OR rang && $4::text[])
GROUP BY number_key
ORDER BY max(started_at) DESC, number_key;

-- name: cb_missed_call
SELECT id, number, number_key, callable, did, rang, started_at, returned_at
FROM missed_calls
WHERE id = $1;

-- name: cb_start_attempt
INSERT INTO callback_attempts (call_id, extension, channel_id)
VALUES ($1, $2, $3)
RETURNING id;

-- name: cb_finish_attempt
-- Only a running attempt is finished: a replay never overwrites a recorded outcome.
UPDATE callback_attempts
SET ended_at = now(), dial_status = $2, talk_seconds = $3
WHERE id = $1 AND dial_status IS NULL
RETURNING id;

-- name: cb_discard_attempt
DELETE FROM callback_attempts
WHERE id = $1 AND dial_status IS NULL
RETURNING id;

-- name: cb_attempts
SELECT id, call_id, extension, channel_id, started_at, ended_at, dial_status, talk_seconds
FROM callback_attempts
WHERE call_id = $1
ORDER BY started_at, id;

-- name: cb_dispose
INSERT INTO caller_dispositions (call_id, number_key, disposition, extension)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: cb_dispositions
SELECT id, call_id, number_key, disposition, extension, decided_at
FROM caller_dispositions
WHERE call_id = $1 OR number_key = $2
ORDER BY decided_at, id;
