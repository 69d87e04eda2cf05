-- Named queries of the desk-phone menu and click-to-call (agi.queries). Who is waiting is the
-- core's 'awaiting_document' query (queries_awaiting.sql).
-- Parameters are always bound ($1...): stored caller ID never becomes SQL text.

-- name: cb_missed_call
SELECT id, number, number_key, callable, did, extensions, started_at, returned_at
FROM missed_calls
WHERE id = $1;

-- name: cb_start_attempt
INSERT INTO callback_attempts (call_id, extension, channel_id)
VALUES ($1, $2, $3)
RETURNING id;

-- name: cb_finish_attempt
-- Only a running attempt is finished: a replay never overwrites a recorded outcome (the
-- function's rule, sql/0008_least_privilege.sql: the desk may not change a finished attempt).
SELECT finish_callback_attempt($1, $2, $3);

-- name: cb_discard_attempt
SELECT withdraw_callback_attempt($1);

-- name: cb_dispose
INSERT INTO caller_dispositions (call_id, number_key, disposition, extension)
VALUES ($1, $2, $3, $4)
RETURNING id;
