-- Managing the inbox's users from the inbox (its admin pages), and undoing a mark for a few
-- minutes. cbd_web changes a user only through the functions below, each run with the owner's
-- rights (SECURITY DEFINER, pinned search_path), granted to cbd_web in sql/grants.sql:
--
-- * every user-management function takes the session id from the person's cookie (as
--   web_decide() of sql/0011_signed_writes.sql does) and acts only when the user of that open
--   session is an enabled admin: the inbox cannot act for a therapist, nor in the name of an
--   admin who is not signed in;
-- * no change leaves the practice without an enabled admin (disabling or demoting the last one
--   is refused: 'last-admin'); the command line (`callback-desk user`, as the owner) stays the
--   way back in;
-- * disabling a user ends their sessions and voids their links (the trigger of
--   sql/0010_sessions.sql, whoever changed the row); enabling revives neither;
-- * a new user, and a password reset, get a one-time link to set a password (purpose
--   'password'): the admin never knows the password, and the link is good once, for at most 3
--   days; using it sets the password, which ends the user's other sessions and voids their other
--   links (the same trigger);
-- * a mark (handled, never) set from the inbox is undone by the person who set it (the user of
--   the open session given), within a few minutes: the row goes, and the triggers of sql/0009_awaiting_state.sql put the caller back
--   to awaiting a callback (unless something else resolved them meanwhile).

-- A sign-in link from the morning email signs in; a password link sets a password (and is never
-- accepted as a sign-in link, nor the other way round).
ALTER TABLE web_sign_in_links
    ADD COLUMN purpose text NOT NULL DEFAULT 'sign-in' CHECK (purpose IN ('sign-in', 'password'));

-- The inbox lists the marks a person may still undo (sql/queries_web.sql: web_undoable).
CREATE INDEX caller_dispositions_by_idx ON caller_dispositions (decided_by, decided_at)
    WHERE decided_by <> '';

-- The admin acting through open session p_session (the cookie's id, hashed as sql/0010_sessions.sql
-- keeps it); raises unless its user is an enabled admin.
CREATE FUNCTION web_admin_check(p_session text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- Whether the practice would still have an enabled admin without user p_user. The admins' rows
-- are locked first, so two admins disabling each other at once cannot both succeed.
CREATE FUNCTION web_admin_others(p_user bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM 1 FROM web_users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE;
    RETURN EXISTS (
        SELECT 1 FROM web_users WHERE role = 'admin' AND NOT disabled AND id <> p_user
    );
END
$$;

-- A one-time password link for user p_user, valid until p_expires (3 days at most); earlier
-- unused password links of theirs are void.
CREATE FUNCTION web_password_link_issue(p_user bigint, p_jti text, p_expires timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- A new user, with a password nobody knows (p_hash: the hash of a random one) and a one-time
-- link to set their own. Returns the user's id; a taken name is a unique violation.
CREATE FUNCTION web_admin_add_user(
    p_session text, p_username text, p_email text, p_role text, p_extensions text[],
    p_hash text, p_jti text, p_expires timestamptz
)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- Role, desk extensions and email of user p_user: 'changed', 'no-user', or 'last-admin' (the
-- last enabled admin stays an admin).
CREATE FUNCTION web_admin_change_user(
    p_session text, p_user bigint, p_role text, p_extensions text[], p_email text
)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- Disable (true) or enable (false) user p_user: 'changed', 'no-user', or 'last-admin'.
-- Disabling ends their sessions and voids their links (web_user_sessions_void()).
CREATE FUNCTION web_admin_set_disabled(p_session text, p_user bigint, p_disabled boolean)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- A password reset: a one-time link for user p_user to set a new password. False when the user
-- is gone or disabled (enable them first). Their current password and sessions stay until the
-- link is used (an admin who suspects misuse also signs them out everywhere).
CREATE FUNCTION web_admin_password_link(
    p_session text, p_user bigint, p_jti text, p_expires timestamptz
)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- "Sign out everywhere" from the admin pages: how many sessions of p_user were open.
CREATE FUNCTION web_admin_sign_out(p_session text, p_user bigint)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM web_admin_check(p_session);
    RETURN web_sessions_end(p_user, 'everywhere');
END
$$;

-- Spends password link p_jti (once, unexpired, of an enabled user) on the new password hash
-- p_hash; the user's id, or NULL. The new password ends the user's sessions and voids their
-- other links (web_user_sessions_void()).
CREATE FUNCTION web_password_link_use(p_jti text, p_hash text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- Undo a mark: disposition p_id, if the user of open session p_session set it from the inbox less
-- than p_window ago (15 minutes at most). Returns the call it was set on, or NULL when it is not
-- theirs, too old, or gone.
CREATE FUNCTION web_undo_disposition(p_session text, p_id bigint, p_window interval)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- A sign-in link (the morning email's) is spent only as one: a password link never signs in.
CREATE OR REPLACE FUNCTION consume_sign_in_link(p_jti text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    UPDATE web_sign_in_links SET used_at = now()
    WHERE jti = p_jti AND purpose = 'sign-in' AND used_at IS NULL AND expires_at > now()
    RETURNING user_id
$$;

REVOKE ALL ON FUNCTION web_admin_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_admin_others(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_password_link_issue(bigint, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_admin_add_user(text, text, text, text, text[], text, text, timestamptz)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION web_admin_change_user(text, bigint, text, text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_admin_set_disabled(text, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_admin_password_link(text, bigint, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_admin_sign_out(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_password_link_use(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_undo_disposition(text, bigint, interval) FROM PUBLIC;
