-- The line scope, written once: a call is on the lines `lines` (DIDs and extensions) when the
-- DID it came in on is one of them, or one of the extensions it rang is (calls.extensions,
-- normalised by line_extension(), sql/0003_awaiting.sql). NULL means every line. Every named
-- query that filters by line calls it; the Python twin for one call is in_scope() in
-- callback_desk/core/scope.py (same name, same arguments).
--
-- One SQL expression, IMMUTABLE and not STRICT: PostgreSQL inlines it where it is called, so
-- each query is planned as if the expression were written out (the time range stays an index
-- scan on calls_missed_started_idx; the scope filters its rows).
CREATE FUNCTION in_scope(lines text[], did text, extensions text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lines IS NULL OR did = ANY (lines) OR extensions && lines;
