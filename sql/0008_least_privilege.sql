-- Writes that must follow a rule the grants alone cannot state go through functions owned by the
-- schema's owner (SECURITY DEFINER), granted in sql/grants.sql to the one role that needs each:
--
-- * a callback attempt is append-only for the desk side and the inbox: they open one (INSERT
--   of the call, the desk and the channel only: it starts now, running), finish a running one
--   once, or withdraw one that never dialled — a finished attempt (ANSWER included, which
--   resolves the caller) is never changed or deleted by them;
-- * the retention job closes stale running attempts as UNKNOWN (never as ANSWER) and deletes
--   calls by age only;
-- * the morning report issues the sign-in link its email carries without reading the users
--   table (password hashes included), and never for an admin or a disabled user.
--
-- Each function pins its search_path (pg_catalog first, pg_temp last), so no object another role
-- creates can stand in for ours while the function runs with the owner's rights.

CREATE FUNCTION finish_callback_attempt(p_id bigint, p_status text, p_talk_seconds integer)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    UPDATE callback_attempts
    SET ended_at = now(), dial_status = p_status, talk_seconds = p_talk_seconds
    WHERE id = p_id AND dial_status IS NULL
    RETURNING id
$$;

CREATE FUNCTION withdraw_callback_attempt(p_id bigint)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    DELETE FROM callback_attempts
    WHERE id = p_id AND dial_status IS NULL
    RETURNING id
$$;

-- An AGI killed mid-dial never reports its outcome: after a day nobody will.
CREATE FUNCTION close_stale_callback_attempts(p_started_before timestamptz)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH closed AS (
        UPDATE callback_attempts
        SET dial_status = 'UNKNOWN', ended_at = started_at, talk_seconds = 0
        WHERE dial_status IS NULL AND started_at < p_started_before
        RETURNING 1
    )
    SELECT count(*) FROM closed
$$;

-- [retention] days is at least 1: a cut-off later than that is not a retention policy. The
-- hour of slack absorbs a difference between this server's clock and the purge job's.
CREATE FUNCTION purge_calls_before(p_before timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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
    RETURN gone;
END
$$;

-- The email's link: for the enabled therapist or front-desk user with this address (the first
-- by id when two share one), valid until p_expires_at (at most 3 days ahead). Returns the user
-- the link signs in, or NULL when nobody may get one: admins sign in with their password.
CREATE FUNCTION issue_sign_in_link(p_email text, p_jti text, p_expires_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- PostgreSQL grants EXECUTE on a new function to PUBLIC: these run with the owner's rights, so
-- only the roles sql/grants.sql names may call them.
REVOKE ALL ON FUNCTION finish_callback_attempt(bigint, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION withdraw_callback_attempt(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION close_stale_callback_attempts(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION purge_calls_before(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION issue_sign_in_link(text, text, timestamptz) FROM PUBLIC;
