-- The schema the migrations build, for reading (pg_dump --schema-only, normalised).
-- Generated: CALLBACK_DESK_WRITE_SCHEMA=1 .venv/bin/pytest tests/db/test_schema.py
-- Never applied: the numbered migrations are the source of truth.
CREATE FUNCTION public.attempts_since(p_number_key text, p_since timestamp with time zone) RETURNS TABLE(attempts bigint, last_attempt_at timestamp with time zone)
    LANGUAGE sql STABLE
    AS $$
    SELECT count(*), max(a.started_at)
    FROM callback_attempts a
    WHERE a.number_key = p_number_key AND a.started_at >= p_since
$$;
CREATE FUNCTION public.awaiting_callers(p_since timestamp with time zone, p_until timestamp with time zone, p_lines text[], p_new_since timestamp with time zone, p_callable_only boolean) RETURNS TABLE(caller text, number text, number_key text, name text, callable boolean, calls bigint, new_calls bigint, first_at timestamp with time zone, last_at timestamp with time zone, last_call_id bigint, did text, reason text, reached_voicemail boolean, rang text[], extensions text[])
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
CREATE FUNCTION public.awaiting_calls_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    SET jit TO 'off'
    AS $$
DECLARE
    reached text[];
    keys text[];
    withheld bigint[];
BEGIN
    SELECT array_agg(DISTINCT number_key) FILTER (WHERE outcome <> 'missed'),
           array_agg(DISTINCT number_key) FILTER (WHERE outcome = 'missed'),
           array_agg(id) FILTER (WHERE outcome = 'missed' AND number_key IS NULL)
    INTO reached, keys, withheld
    FROM new_rows;
    IF cardinality(reached) > 0 THEN
        -- A withheld call that reached someone returns nobody (the rule): no key, no refresh.
        reached := array_remove(reached, NULL);
        PERFORM awaiting_refresh(reached, NULL);
        -- The refresh applied the rule to these numbers' calls, the new missed ones too.
        keys := ARRAY(SELECT unnest(keys) EXCEPT SELECT unnest(reached));
    END IF;
    keys := array_remove(keys, NULL);
    IF coalesce(cardinality(keys), 0) = 0 AND coalesce(cardinality(withheld), 0) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM awaiting_lock();
    -- The rule's calls of these numbers: the new missed calls it wants, and those already kept
    -- (unchanged: this statement touched none of them), which the conflict leaves as they are.
    -- The row as awaiting_refresh() writes it.
    INSERT INTO awaiting_calls (call_id, caller, number, name, number_key, callable, did,
                                reason, reached_voicemail, rang, extensions, started_at)
    SELECT m.id, coalesce(m.number_key, m.number), m.number, m.name, m.number_key,
           m.callable, m.did, m.reason, m.reached_voicemail,
           CASE WHEN cardinality(m.rang) < 2 THEN m.rang ELSE sorted_set(m.rang) END,
           CASE WHEN cardinality(m.extensions) < 2 THEN m.extensions
                ELSE sorted_set(m.extensions) END,
           m.started_at
    FROM awaiting_rule(keys, withheld) m
    ON CONFLICT (call_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TABLE public.awaiting_calls (
    call_id bigint NOT NULL,
    caller text NOT NULL COLLATE pg_catalog."C",
    number text NOT NULL,
    name text NOT NULL,
    number_key text,
    callable boolean NOT NULL,
    did text NOT NULL,
    reason text NOT NULL,
    reached_voicemail boolean NOT NULL,
    rang text[] NOT NULL,
    extensions text[] NOT NULL,
    started_at timestamp with time zone NOT NULL
);
CREATE FUNCTION public.awaiting_in(p_since timestamp with time zone, p_until timestamp with time zone, p_lines text[], p_callable_only boolean) RETURNS SETOF public.awaiting_calls
    LANGUAGE sql STABLE
    AS $$
    SELECT m.*
    FROM awaiting_calls m
    WHERE m.started_at >= p_since AND m.started_at < p_until
      AND in_scope(p_lines, m.did, m.extensions)
      AND (NOT p_callable_only OR (m.callable AND m.number_key IS NOT NULL))
$$;
CREATE FUNCTION public.awaiting_lock() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'calls, callback attempts and dispositions are written at READ COMMITTED '
            'or SERIALIZABLE: the awaiting state is kept up to date statement by statement'
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM pg_advisory_xact_lock(1128355649);  -- 'CAWA' in ASCII: this state's lock
END
$$;
CREATE FUNCTION public.awaiting_rebuild() RETURNS void
    LANGUAGE sql
    AS $$
    SELECT awaiting_refresh(
        ARRAY(SELECT DISTINCT number_key FROM calls
              WHERE outcome = 'missed' AND number_key IS NOT NULL),
        ARRAY(SELECT id FROM calls WHERE outcome = 'missed' AND number_key IS NULL))
$$;
CREATE FUNCTION public.awaiting_refresh(p_keys text[], p_calls bigint[]) RETURNS void
    LANGUAGE plpgsql
    SET jit TO 'off'
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
        SELECT c.number_key
        FROM unnest(p_calls) AS i (id)
        CROSS JOIN LATERAL (SELECT c.number_key FROM calls c WHERE c.id = i.id OFFSET 0) c
        WHERE c.number_key IS NOT NULL
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
        -- The rows of these numbers (by caller: the number key, when there is one) and of these
        -- calls that the rule no longer wants, found per number and deleted by primary key.
        WHERE a.call_id = ANY (ARRAY(
            SELECT x.call_id
            FROM unnest(numbers) AS k
            CROSS JOIN LATERAL (
                SELECT x.call_id, x.number_key FROM awaiting_calls x WHERE x.caller = k
                OFFSET 0  -- one probe per number
            ) x
            WHERE x.number_key IS NOT NULL
            UNION ALL
            SELECT i FROM unnest(p_calls) AS i
            EXCEPT
            SELECT w.id FROM wanted w
        ))
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
CREATE FUNCTION public.line_extension(dial text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN "substring"(dial, '^(?:[A-Za-z0-9_-]+/)?(?:FM(?:GL|PR)-)?([^/@#]+)'::text);
CREATE FUNCTION public.line_extensions_of_many(dials text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(SELECT e.e FROM unnest(line_extensions_of_many.dials) WITH ORDINALITY u(dial, i), LATERAL public.line_extension(u.dial) e(e) WHERE (e.e IS NOT NULL) GROUP BY e.e ORDER BY (min(u.i)));
CREATE FUNCTION public.line_extensions(dials text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN (cardinality(dials) = 0) THEN '{}'::text[] WHEN ((cardinality(dials) = 1) AND (array_ndims(dials) = 1)) THEN array_remove(ARRAY[public.line_extension((dials)[array_lower(dials, 1)])], NULL::text) ELSE public.line_extensions_of_many(dials) END;
CREATE TABLE public.calls (
    id bigint NOT NULL,
    pbx text NOT NULL,
    linkedid text NOT NULL,
    direction text NOT NULL,
    outcome text NOT NULL,
    reason text NOT NULL,
    number text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    number_key text,
    callable boolean NOT NULL,
    did text DEFAULT ''::text NOT NULL,
    rang text[] DEFAULT '{}'::text[] NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone NOT NULL,
    ring_seconds real DEFAULT 0 NOT NULL,
    reached_voicemail boolean DEFAULT false NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    extensions text[] GENERATED ALWAYS AS (public.line_extensions(rang)) STORED NOT NULL,
    gap_id bigint,
    CONSTRAINT calls_direction_check CHECK ((direction = ANY (ARRAY['inbound'::text, 'outbound'::text]))),
    CONSTRAINT calls_outcome_check CHECK ((outcome = ANY (ARRAY['answered'::text, 'voicemail'::text, 'missed'::text]))),
    CONSTRAINT calls_reason_check CHECK ((reason = ANY (ARRAY['answered'::text, 'voicemail_left'::text, 'voicemail_greeting'::text, 'queue_abandoned'::text, 'hangup_while_ringing'::text, 'no_answer'::text, 'busy'::text, 'unavailable'::text, 'ivr_hangup'::text, 'hangup_before_ringing'::text, 'unknown_end'::text, 'reconciled_voicemail_unknown'::text, 'reconciled_unanswered'::text]))),
    CONSTRAINT calls_ring_seconds_check CHECK ((ring_seconds >= (0)::double precision)),
    CONSTRAINT calls_time_order CHECK ((ended_at >= started_at))
);
CREATE FUNCTION public.awaiting_rule(p_keys text[], p_withheld bigint[]) RETURNS SETOF public.calls
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
        CROSS JOIN LATERAL (
            SELECT m.*
            FROM calls m
            WHERE m.number_key = r.number_key
              AND m.started_at >= coalesce(r.until_at, '-infinity')
            OFFSET 0  -- one probe per number (see the top of sql/0013_awaiting_by_number.sql)
        ) m
        WHERE NOT r.never AND m.outcome = 'missed'
        UNION ALL
        SELECT m.*
        FROM (SELECT DISTINCT i FROM unnest(p_withheld) AS i) w (id)
        CROSS JOIN LATERAL (
            SELECT m.* FROM calls m WHERE m.id = w.id
            OFFSET 0  -- one probe per call
        ) m
        WHERE m.number_key IS NULL AND m.outcome = 'missed'
    ) m
    -- Not marked on this very call. A scalar subquery, so that it stays a probe of
    -- caller_dispositions_call_idx per candidate call (as an anti-join the planner may hash
    -- every disposition ever made, for the handful of calls a statement touched).
    WHERE (
        SELECT count(*) FROM caller_dispositions d
        WHERE d.call_id = m.id AND (d.disposition = 'never' OR d.decided_at > m.started_at)
    ) = 0
$$;
CREATE FUNCTION public.awaiting_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM awaiting_rebuild();
    RETURN NULL;
END
$$;
CREATE FUNCTION public.awaiting_written() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
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
CREATE FUNCTION public.call_evidence(outcome text, reason text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT
    AS $$
    SELECT CASE
        WHEN outcome = 'answered' THEN 3
        WHEN outcome = 'voicemail' THEN 2
        WHEN reason = 'unknown_end' THEN 0
        ELSE 1
    END
$$;
CREATE FUNCTION public.callback_attempts_number_key() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.number_key := (SELECT c.number_key FROM calls c WHERE c.id = NEW.call_id);
    RETURN NEW;
END
$$;
CREATE FUNCTION public.callback_desk_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('callback_desk_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE FUNCTION public.close_stale_callback_attempts(p_started_before timestamp with time zone) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    WITH closed AS (
        UPDATE callback_attempts
        SET dial_status = 'UNKNOWN', ended_at = started_at, talk_seconds = 0
        WHERE dial_status IS NULL AND started_at < p_started_before
        RETURNING 1
    )
    SELECT count(*) FROM closed
$$;
CREATE FUNCTION public.consume_sign_in_link(p_jti text) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    UPDATE web_sign_in_links SET used_at = now()
    WHERE jti = p_jti AND purpose = 'sign-in' AND used_at IS NULL AND expires_at > now()
    RETURNING user_id
$$;
CREATE FUNCTION public.finish_callback_attempt(p_id bigint, p_status text, p_talk_seconds integer) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    UPDATE callback_attempts
    SET ended_at = now(), dial_status = p_status, talk_seconds = p_talk_seconds
    WHERE id = p_id AND dial_status IS NULL
    RETURNING id
$$;
CREATE FUNCTION public.in_scope(lines text[], did text, extensions text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ((lines IS NULL) OR (did = ANY (lines)) OR (extensions && lines));
CREATE FUNCTION public.issue_sign_in_link(p_email text, p_jti text, p_expires_at timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    found bigint;
BEGIN
    IF p_expires_at > now() + interval '3 days' THEN
        RAISE EXCEPTION 'a sign-in link may be valid for 3 days at most'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT u.id INTO found
    FROM web_users u
    WHERE lower(u.email) = lower(p_email) AND u.email <> ''
      AND NOT u.disabled AND u.role IN ('therapist', 'frontdesk')
    ORDER BY u.id
    LIMIT 1;
    IF found IS NOT NULL THEN
        INSERT INTO web_sign_in_links (jti, user_id, expires_at)
        VALUES (p_jti, found, p_expires_at);
    END IF;
    RETURN found;
END
$$;
CREATE FUNCTION public.purge_calls_before(p_before timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    gone bigint;
BEGIN
    IF p_before IS NULL OR p_before > now() - interval '23 hours' THEN
        RAISE EXCEPTION 'purge deletes calls older than a day only (cut-off %)', p_before
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM calls WHERE started_at < p_before;
    GET DIAGNOSTICS gone = ROW_COUNT;
    DELETE FROM number_forms f
    WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.number_key = f.number_key);
    RETURN gone;
END
$$;
CREATE FUNCTION public.sorted_set(items text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(SELECT DISTINCT i.i FROM unnest(sorted_set.items) i(i) ORDER BY i.i);
CREATE FUNCTION public.web_admin_add_user(p_session text, p_username text, p_email text, p_role text, p_extensions text[], p_hash text, p_jti text, p_expires timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    added bigint;
BEGIN
    PERFORM web_admin_check(p_session);
    IF p_role = 'therapist' AND cardinality(p_extensions) = 0 THEN
        RAISE EXCEPTION 'a therapist needs a desk extension' USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO web_users (username, email, role, extensions, password_hash)
    VALUES (p_username, p_email, p_role, p_extensions, p_hash)
    RETURNING id INTO added;
    PERFORM web_password_link_issue(added, p_jti, p_expires);
    RETURN added;
END
$$;
CREATE FUNCTION public.web_admin_change_user(p_session text, p_user bigint, p_role text, p_extensions text[], p_email text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    u web_users;
BEGIN
    PERFORM web_admin_check(p_session);
    IF p_role = 'therapist' AND cardinality(p_extensions) = 0 THEN
        RAISE EXCEPTION 'a therapist needs a desk extension' USING ERRCODE = 'check_violation';
    END IF;
    SELECT * INTO u FROM web_users WHERE id = p_user;
    IF NOT FOUND THEN
        RETURN 'no-user';
    END IF;
    IF u.role = 'admin' AND NOT u.disabled AND p_role <> 'admin' AND NOT web_admin_others(p_user)
    THEN
        RETURN 'last-admin';
    END IF;
    UPDATE web_users SET role = p_role, extensions = p_extensions, email = p_email
    WHERE id = p_user;
    RETURN 'changed';
END
$$;
CREATE FUNCTION public.web_admin_check(p_session text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    actor bigint;
BEGIN
    SELECT u.id INTO actor
    FROM web_sessions s
    JOIN web_users u ON u.id = s.user_id
    WHERE s.id = web_session_key(p_session) AND s.ended_at IS NULL
      AND u.role = 'admin' AND NOT u.disabled;
    IF actor IS NULL THEN
        RAISE EXCEPTION 'only a signed-in, enabled admin manages users'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN actor;
END
$$;
CREATE FUNCTION public.web_admin_others(p_user bigint) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM 1 FROM web_users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE;
    RETURN EXISTS (
        SELECT 1 FROM web_users WHERE role = 'admin' AND NOT disabled AND id <> p_user
    );
END
$$;
CREATE FUNCTION public.web_admin_password_link(p_session text, p_user bigint, p_jti text, p_expires timestamp with time zone) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM web_admin_check(p_session);
    IF NOT EXISTS (SELECT 1 FROM web_users WHERE id = p_user AND NOT disabled) THEN
        RETURN false;
    END IF;
    PERFORM web_password_link_issue(p_user, p_jti, p_expires);
    RETURN true;
END
$$;
CREATE FUNCTION public.web_admin_set_disabled(p_session text, p_user bigint, p_disabled boolean) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    u web_users;
BEGIN
    PERFORM web_admin_check(p_session);
    SELECT * INTO u FROM web_users WHERE id = p_user;
    IF NOT FOUND THEN
        RETURN 'no-user';
    END IF;
    IF p_disabled AND u.role = 'admin' AND NOT u.disabled AND NOT web_admin_others(p_user) THEN
        RETURN 'last-admin';
    END IF;
    UPDATE web_users SET disabled = p_disabled WHERE id = p_user;
    RETURN 'changed';
END
$$;
CREATE FUNCTION public.web_admin_sign_out(p_session text, p_user bigint) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    PERFORM web_admin_check(p_session);
    RETURN web_sessions_end(p_user, 'everywhere');
END
$$;
CREATE FUNCTION public.web_decide(p_session text, p_call bigint, p_disposition text) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    INSERT INTO caller_dispositions (call_id, number_key, disposition, extension, decided_by)
    SELECT c.id, c.number_key, p_disposition, coalesce(u.extensions[1], ''), u.username
    FROM web_sessions s
    JOIN web_users u ON u.id = s.user_id
    JOIN calls c ON c.id = p_call AND c.outcome = 'missed'
    WHERE s.id = web_session_key(p_session) AND s.ended_at IS NULL AND NOT u.disabled
    RETURNING id
$$;
CREATE FUNCTION public.web_password_link_issue(p_user bigint, p_jti text, p_expires timestamp with time zone) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF p_expires > now() + interval '3 days' THEN
        RAISE EXCEPTION 'a password link may be valid for 3 days at most'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE web_sign_in_links SET expires_at = now()
    WHERE user_id = p_user AND purpose = 'password' AND used_at IS NULL AND expires_at > now();
    INSERT INTO web_sign_in_links (jti, user_id, expires_at, purpose)
    VALUES (p_jti, p_user, p_expires, 'password');
END
$$;
CREATE FUNCTION public.web_password_link_use(p_jti text, p_hash text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    found bigint;
BEGIN
    UPDATE web_sign_in_links l SET used_at = now()
    FROM web_users u
    WHERE l.jti = p_jti AND l.purpose = 'password' AND l.used_at IS NULL
      AND l.expires_at > now() AND u.id = l.user_id AND NOT u.disabled
    RETURNING l.user_id INTO found;
    IF found IS NOT NULL THEN
        UPDATE web_users SET password_hash = p_hash, password_changed_at = now()
        WHERE id = found;
    END IF;
    RETURN found;
END
$$;
CREATE FUNCTION public.web_session_key(p_id text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$ SELECT encode(sha256(convert_to(p_id, 'UTF8')), 'hex') $$;
CREATE FUNCTION public.web_session_sign_out(p_id text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    UPDATE web_sessions SET ended_at = now(), ended_why = 'signed-out'
    WHERE id = web_session_key(p_id) AND ended_at IS NULL
    RETURNING true
$$;
CREATE FUNCTION public.web_session_start(p_id text, p_user bigint, p_agent text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF length(p_id) < 16 THEN
        RAISE EXCEPTION 'a session id has at least 16 characters'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM web_sessions
    WHERE user_id = p_user AND ended_at < now() - interval '30 days';
    INSERT INTO web_sessions (id, user_id, agent)
    SELECT web_session_key(p_id), u.id, p_agent
    FROM web_users u
    WHERE u.id = p_user AND NOT u.disabled;
    RETURN FOUND;
END
$$;
CREATE FUNCTION public.web_session_user(p_id text, p_idle interval, p_lifetime interval, p_active boolean) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    s web_sessions;
BEGIN
    SELECT * INTO s FROM web_sessions WHERE id = web_session_key(p_id) FOR UPDATE;
    IF NOT FOUND OR s.ended_at IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF now() >= s.created_at + p_lifetime THEN
        UPDATE web_sessions SET ended_at = now(), ended_why = 'expired' WHERE id = s.id;
        RETURN NULL;
    END IF;
    IF now() >= s.last_seen_at + p_idle THEN
        UPDATE web_sessions SET ended_at = now(), ended_why = 'idle' WHERE id = s.id;
        RETURN NULL;
    END IF;
    IF p_active THEN
        UPDATE web_sessions SET last_seen_at = now() WHERE id = s.id;
    END IF;
    RETURN s.user_id;
END
$$;
CREATE FUNCTION public.web_sessions_end(p_user bigint, p_why text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    ended integer;
BEGIN
    UPDATE web_sessions SET ended_at = now(), ended_why = p_why
    WHERE user_id = p_user AND ended_at IS NULL;
    GET DIAGNOSTICS ended = ROW_COUNT;
    RETURN ended;
END
$$;
CREATE FUNCTION public.web_undo_disposition(p_session text, p_id bigint, p_window interval) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    undone bigint;
BEGIN
    IF p_window > interval '15 minutes' THEN
        RAISE EXCEPTION 'a mark may be undone for 15 minutes at most'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM caller_dispositions d
    USING web_sessions s, web_users u
    WHERE s.id = web_session_key(p_session) AND s.ended_at IS NULL
      AND u.id = s.user_id AND NOT u.disabled
      AND d.id = p_id AND d.decided_by = u.username AND d.decided_at > now() - p_window
    RETURNING coalesce(d.call_id, 0) INTO undone;
    RETURN undone;
END
$$;
CREATE FUNCTION public.web_user_sessions_void() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    IF NEW.password_changed_at IS DISTINCT FROM OLD.password_changed_at
       OR (NEW.disabled AND NOT OLD.disabled) THEN
        PERFORM web_sessions_end(
            NEW.id, CASE WHEN NEW.disabled AND NOT OLD.disabled THEN 'disabled' ELSE 'password' END
        );
        UPDATE web_sign_in_links SET expires_at = now()
        WHERE user_id = NEW.id AND used_at IS NULL AND expires_at > now();
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION public.withdraw_callback_attempt(p_id bigint) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
    DELETE FROM callback_attempts
    WHERE id = p_id AND dial_status IS NULL
    RETURNING id
$$;
CREATE AGGREGATE public.concatenated(text[]) (
    SFUNC = array_cat,
    STYPE = text[]
);
CREATE TABLE public.callback_attempts (
    id bigint NOT NULL,
    call_id bigint NOT NULL,
    extension text NOT NULL,
    channel_id text,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    ended_at timestamp with time zone,
    dial_status text,
    talk_seconds integer,
    number_key text,
    CONSTRAINT callback_attempts_dial_status_check CHECK ((dial_status = ANY (ARRAY['ANSWER'::text, 'BUSY'::text, 'NOANSWER'::text, 'CANCEL'::text, 'CONGESTION'::text, 'CHANUNAVAIL'::text, 'DONTCALL'::text, 'TORTURE'::text, 'INVALIDARGS'::text, 'UNKNOWN'::text]))),
    CONSTRAINT callback_attempts_talk_seconds_check CHECK ((talk_seconds >= 0))
);
ALTER TABLE public.callback_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.callback_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.caller_dispositions (
    id bigint NOT NULL,
    call_id bigint,
    number_key text,
    disposition text NOT NULL,
    extension text DEFAULT ''::text NOT NULL,
    decided_at timestamp with time zone DEFAULT now() NOT NULL,
    decided_by text DEFAULT ''::text NOT NULL,
    CONSTRAINT caller_dispositions_disposition_check CHECK ((disposition = ANY (ARRAY['handled'::text, 'never'::text]))),
    CONSTRAINT caller_dispositions_target CHECK (((call_id IS NOT NULL) OR (number_key IS NOT NULL)))
);
ALTER TABLE public.caller_dispositions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.caller_dispositions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
ALTER TABLE public.calls ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.calls_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.listener_gaps (
    id bigint NOT NULL,
    pbx text NOT NULL,
    listener text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone NOT NULL,
    source text NOT NULL,
    filled_by text DEFAULT 'pending'::text NOT NULL,
    rows_added integer DEFAULT 0 NOT NULL,
    detail text DEFAULT ''::text NOT NULL,
    filled_at timestamp with time zone,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT listener_gaps_filled_by_check CHECK ((filled_by = ANY (ARRAY['pending'::text, 'cel'::text, 'cdr'::text, 'not_configured'::text, 'failed'::text]))),
    CONSTRAINT listener_gaps_rows_added_check CHECK ((rows_added >= 0)),
    CONSTRAINT listener_gaps_source_check CHECK ((source = ANY (ARRAY['startup'::text, 'ami_cut'::text]))),
    CONSTRAINT listener_gaps_time_order CHECK ((ended_at >= started_at))
);
ALTER TABLE public.listener_gaps ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.listener_gaps_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.listener_heartbeats (
    pbx text NOT NULL,
    listener text NOT NULL,
    alive_at timestamp with time zone NOT NULL
);
CREATE VIEW public.missed_calls AS
 SELECT m.id,
    m.pbx,
    m.linkedid,
    m.reason,
    m.number,
    m.name,
    m.number_key,
    m.callable,
    m.did,
    m.rang,
    m.started_at,
    m.ended_at,
    m.ring_seconds,
    m.reached_voicemail,
    m.extensions,
    r.returned_at,
    r.returned_how
   FROM (public.calls m
     LEFT JOIN LATERAL ( SELECT x.returned_at,
            x.returned_how
           FROM (( SELECT c.started_at,
                    ((c.direction || '_'::text) || c.outcome) AS "?column?"
                   FROM public.calls c
                  WHERE ((c.number_key = m.number_key) AND (c.outcome = ANY (ARRAY['answered'::text, 'voicemail'::text])) AND (c.started_at > m.started_at))
                  ORDER BY c.started_at
                 LIMIT 1)
                UNION ALL
                ( SELECT a.started_at,
                    'callback_answered'::text
                   FROM public.callback_attempts a
                  WHERE ((a.number_key = m.number_key) AND (a.started_at > m.started_at) AND (a.dial_status = 'ANSWER'::text))
                  ORDER BY a.started_at
                 LIMIT 1)
                UNION ALL
                ( SELECT d.decided_at,
                    ('marked_'::text || d.disposition)
                   FROM public.caller_dispositions d
                  WHERE ((d.number_key = m.number_key) AND ((d.disposition = 'never'::text) OR (d.decided_at > m.started_at)))
                  ORDER BY d.decided_at
                 LIMIT 1)
                UNION ALL
                ( SELECT d.decided_at,
                    ('marked_'::text || d.disposition)
                   FROM public.caller_dispositions d
                  WHERE ((d.call_id = m.id) AND ((d.disposition = 'never'::text) OR (d.decided_at > m.started_at)))
                  ORDER BY d.decided_at
                 LIMIT 1)) x(returned_at, returned_how)
          ORDER BY x.returned_at
         LIMIT 1) r ON (true))
  WHERE (m.outcome = 'missed'::text);
CREATE TABLE public.number_forms (
    country text NOT NULL COLLATE pg_catalog."C",
    rules text NOT NULL COLLATE pg_catalog."C",
    number_key text NOT NULL COLLATE pg_catalog."C",
    shown text NOT NULL
);
CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);
CREATE TABLE public.web_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    username text NOT NULL,
    action text NOT NULL,
    call_id bigint,
    detail text DEFAULT ''::text NOT NULL
);
ALTER TABLE public.web_audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.web_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
CREATE TABLE public.web_sessions (
    id text NOT NULL,
    user_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    agent text DEFAULT ''::text NOT NULL,
    ended_at timestamp with time zone,
    ended_why text,
    CONSTRAINT web_sessions_agent_check CHECK ((agent ~ '^[A-Za-z0-9 ]{0,40}$'::text)),
    CONSTRAINT web_sessions_check CHECK (((ended_at IS NULL) = (ended_why IS NULL))),
    CONSTRAINT web_sessions_ended_why_check CHECK ((ended_why = ANY (ARRAY['signed-out'::text, 'everywhere'::text, 'password'::text, 'disabled'::text, 'idle'::text, 'expired'::text]))),
    CONSTRAINT web_sessions_id_check CHECK ((id ~ '^[0-9a-f]{64}$'::text))
);
CREATE TABLE public.web_sign_in_links (
    jti text NOT NULL,
    user_id bigint NOT NULL,
    issued_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    purpose text DEFAULT 'sign-in'::text NOT NULL,
    CONSTRAINT web_sign_in_links_purpose_check CHECK ((purpose = ANY (ARRAY['sign-in'::text, 'password'::text])))
);
CREATE TABLE public.web_users (
    id bigint NOT NULL,
    username text NOT NULL,
    email text DEFAULT ''::text NOT NULL,
    role text NOT NULL,
    extensions text[] DEFAULT '{}'::text[] NOT NULL,
    password_hash text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    password_changed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT web_users_role_check CHECK ((role = ANY (ARRAY['therapist'::text, 'frontdesk'::text, 'admin'::text]))),
    CONSTRAINT web_users_username_check CHECK ((username ~ '^[a-z0-9._-]{1,40}$'::text))
);
ALTER TABLE public.web_users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.web_users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
ALTER TABLE ONLY public.awaiting_calls
    ADD CONSTRAINT awaiting_calls_pkey PRIMARY KEY (call_id);
ALTER TABLE ONLY public.callback_attempts
    ADD CONSTRAINT callback_attempts_channel_id_key UNIQUE (channel_id);
ALTER TABLE ONLY public.callback_attempts
    ADD CONSTRAINT callback_attempts_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.caller_dispositions
    ADD CONSTRAINT caller_dispositions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.calls
    ADD CONSTRAINT calls_pbx_linkedid_key UNIQUE (pbx, linkedid);
ALTER TABLE ONLY public.calls
    ADD CONSTRAINT calls_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.listener_gaps
    ADD CONSTRAINT listener_gaps_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.listener_heartbeats
    ADD CONSTRAINT listener_heartbeats_pkey PRIMARY KEY (pbx, listener);
ALTER TABLE ONLY public.number_forms
    ADD CONSTRAINT number_forms_pkey PRIMARY KEY (country, rules, number_key);
ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY public.web_audit
    ADD CONSTRAINT web_audit_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.web_sessions
    ADD CONSTRAINT web_sessions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.web_sign_in_links
    ADD CONSTRAINT web_sign_in_links_pkey PRIMARY KEY (jti);
ALTER TABLE ONLY public.web_users
    ADD CONSTRAINT web_users_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.web_users
    ADD CONSTRAINT web_users_username_key UNIQUE (username);
CREATE INDEX awaiting_calls_caller_idx ON public.awaiting_calls USING btree (caller, started_at);
CREATE INDEX awaiting_calls_started_idx ON public.awaiting_calls USING btree (started_at);
CREATE INDEX callback_attempts_call_idx ON public.callback_attempts USING btree (call_id);
CREATE INDEX callback_attempts_number_idx ON public.callback_attempts USING btree (number_key, started_at);
CREATE INDEX caller_dispositions_by_idx ON public.caller_dispositions USING btree (decided_by, decided_at) WHERE (decided_by <> ''::text);
CREATE INDEX caller_dispositions_call_idx ON public.caller_dispositions USING btree (call_id);
CREATE INDEX caller_dispositions_number_idx ON public.caller_dispositions USING btree (number_key, decided_at);
CREATE INDEX calls_contact_idx ON public.calls USING btree (number_key, started_at) WHERE (outcome = ANY (ARRAY['answered'::text, 'voicemail'::text]));
CREATE INDEX calls_missed_started_idx ON public.calls USING btree (started_at) WHERE (outcome = 'missed'::text);
CREATE INDEX calls_number_key_started_idx ON public.calls USING btree (number_key, started_at);
CREATE INDEX listener_gaps_pbx_started_idx ON public.listener_gaps USING btree (pbx, started_at);
CREATE INDEX web_audit_call_idx ON public.web_audit USING btree (call_id);
CREATE INDEX web_sessions_open_idx ON public.web_sessions USING btree (user_id) WHERE (ended_at IS NULL);
CREATE TRIGGER callback_attempts_awaiting_deleted AFTER DELETE ON public.callback_attempts REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('call_id');
CREATE TRIGGER callback_attempts_awaiting_inserted AFTER INSERT ON public.callback_attempts REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('call_id');
CREATE TRIGGER callback_attempts_awaiting_truncated AFTER TRUNCATE ON public.callback_attempts FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_truncated();
CREATE TRIGGER callback_attempts_awaiting_updated AFTER UPDATE ON public.callback_attempts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('call_id');
CREATE TRIGGER callback_attempts_changed AFTER INSERT OR DELETE OR UPDATE ON public.callback_attempts FOR EACH STATEMENT EXECUTE FUNCTION public.callback_desk_changed();
CREATE TRIGGER callback_attempts_number_key BEFORE INSERT OR UPDATE OF call_id ON public.callback_attempts FOR EACH ROW EXECUTE FUNCTION public.callback_attempts_number_key();
CREATE TRIGGER caller_dispositions_awaiting_deleted AFTER DELETE ON public.caller_dispositions REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('call_id');
CREATE TRIGGER caller_dispositions_awaiting_inserted AFTER INSERT ON public.caller_dispositions REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('call_id');
CREATE TRIGGER caller_dispositions_awaiting_truncated AFTER TRUNCATE ON public.caller_dispositions FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_truncated();
CREATE TRIGGER caller_dispositions_awaiting_updated AFTER UPDATE ON public.caller_dispositions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('call_id');
CREATE TRIGGER caller_dispositions_changed AFTER INSERT OR DELETE OR UPDATE ON public.caller_dispositions FOR EACH STATEMENT EXECUTE FUNCTION public.callback_desk_changed();
CREATE TRIGGER calls_awaiting_deleted AFTER DELETE ON public.calls REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('id');
CREATE TRIGGER calls_awaiting_inserted AFTER INSERT ON public.calls REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_calls_inserted();
CREATE TRIGGER calls_awaiting_updated AFTER UPDATE ON public.calls REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.awaiting_written('id');
CREATE TRIGGER calls_changed AFTER INSERT OR DELETE OR UPDATE ON public.calls FOR EACH STATEMENT EXECUTE FUNCTION public.callback_desk_changed();
CREATE TRIGGER web_users_sessions_void AFTER UPDATE OF password_changed_at, disabled ON public.web_users FOR EACH ROW EXECUTE FUNCTION public.web_user_sessions_void();
ALTER TABLE ONLY public.awaiting_calls
    ADD CONSTRAINT awaiting_calls_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.callback_attempts
    ADD CONSTRAINT callback_attempts_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.caller_dispositions
    ADD CONSTRAINT caller_dispositions_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.calls
    ADD CONSTRAINT calls_gap_id_fkey FOREIGN KEY (gap_id) REFERENCES public.listener_gaps(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.web_audit
    ADD CONSTRAINT web_audit_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.web_sessions
    ADD CONSTRAINT web_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.web_users(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.web_sign_in_links
    ADD CONSTRAINT web_sign_in_links_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.web_users(id) ON DELETE CASCADE;
