-- Server-side sessions of the inbox: a row per sign-in, so that signing out, a new password, a
-- disabled account and an admin's "sign out everywhere" really end a session, whatever cookie a
-- browser (or someone who copied it) still holds.
--
-- * The cookie carries a random session id, signed with [web] secret; the table keeps only the
--   id's SHA-256, so neither a reader of this table nor a database backup holds a live session.
-- * A session is alive while it has not ended, was seen within the idle timeout and is younger
--   than its absolute lifetime (both [web] settings, passed in by the inbox).
-- * cbd_web reads the table and writes it only through the functions below (sql/grants.sql): it
--   starts a session for an enabled user, checks one, signs one out, or ends all of a user's.
-- * A new password or disabling a user ends every open session of theirs and voids their unused
--   sign-in links, whoever changed the row (the CLI, the inbox): a trigger, with the owner's
--   rights. Enabling the user again revives nothing.

CREATE TABLE web_sessions (
    -- SHA-256 of the cookie's random id, hex.
    id            text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    user_id       bigint      NOT NULL REFERENCES web_users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    -- What kind of browser, as a person would recognise it on an admin page ("Firefox on
    -- Windows"); never the raw User-Agent.
    agent         text        NOT NULL DEFAULT '' CHECK (agent ~ '^[A-Za-z0-9 ]{0,40}$'),
    ended_at      timestamptz,
    ended_why     text        CHECK (ended_why IN (
        'signed-out',   -- the person pressed Sign out (or signed in as someone else)
        'everywhere',   -- an admin signed the user out everywhere
        'password',     -- the password was changed
        'disabled',     -- the user was disabled
        'idle',         -- not used for longer than [web] idle_minutes
        'expired'       -- older than [web] session_minutes
    )),
    CHECK ((ended_at IS NULL) = (ended_why IS NULL))
);

CREATE INDEX web_sessions_open_idx ON web_sessions (user_id) WHERE ended_at IS NULL;

CREATE FUNCTION web_session_key(p_id text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT encode(sha256(convert_to(p_id, 'UTF8')), 'hex') $$;

-- A new session for an enabled user; false when the user is gone or disabled. Rows that ended a
-- month ago go at the same time (they only ever served an admin's "where was I signed in").
CREATE FUNCTION web_session_start(p_id text, p_user bigint, p_agent text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- The user of a live session, or NULL. A session found idle or too old is ended here, so that an
-- admin sees why. p_active: a person's request (counts as use); false for the live page's own
-- re-reads and the event stream's checks, which must not keep an unattended screen signed in.
CREATE FUNCTION web_session_user(
    p_id text, p_idle interval, p_lifetime interval, p_active boolean
)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- Sign out: this session only.
CREATE FUNCTION web_session_sign_out(p_id text)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    UPDATE web_sessions SET ended_at = now(), ended_why = 'signed-out'
    WHERE id = web_session_key(p_id) AND ended_at IS NULL
    RETURNING true
$$;

-- Every open session of a user, ended for this reason; how many there were.
CREATE FUNCTION web_sessions_end(p_user bigint, p_why text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

-- A new password or a disabled account ends the user's sessions and voids the sign-in links
-- issued before it (an unused link expires now: the morning email's link of a person who left
-- must not open the inbox when they are enabled again).
CREATE FUNCTION web_user_sessions_void() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
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

CREATE TRIGGER web_users_sessions_void AFTER UPDATE OF password_changed_at, disabled ON web_users
    FOR EACH ROW EXECUTE FUNCTION web_user_sessions_void();

REVOKE ALL ON FUNCTION web_session_start(text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_session_user(text, interval, interval, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_session_sign_out(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_sessions_end(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION web_user_sessions_void() FROM PUBLIC;
