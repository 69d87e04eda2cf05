-- Named queries of gap detection and reconciliation (ami_listener.gaps) and the report's list
-- of gaps. The calls themselves are written by insert_call (queries.sql).

-- name: beat_heart
INSERT INTO listener_heartbeats (pbx, listener, alive_at) VALUES ($1, $2, $3)
ON CONFLICT (pbx, listener) DO UPDATE SET alive_at = greatest(listener_heartbeats.alive_at, $3);

-- name: last_heartbeat
-- The last moment this listener was known to be logged in to the PBX's AMI.
SELECT alive_at FROM listener_heartbeats WHERE pbx = $1 AND listener = $2;

-- name: insert_gap
INSERT INTO listener_gaps (pbx, listener, started_at, ended_at, source) VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: fill_gap
-- rows_added accumulates: a gap is read again later for calls still running at the first pass.
UPDATE listener_gaps
SET filled_by = $2, rows_added = rows_added + $3, detail = $4, filled_at = $5
WHERE id = $1;

-- name: gaps_between
-- Gaps that overlap a report window, oldest first.
SELECT id, pbx, listener, started_at, ended_at, source, filled_by, rows_added, detail, filled_at
FROM listener_gaps
WHERE started_at < $2 AND ended_at > $1
ORDER BY started_at, id;
