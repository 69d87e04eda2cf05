-- The inbox's writes that must not be the writer's word (issue 16), through functions that run
-- with the owner's rights (granted to cbd_web alone in sql/grants.sql):
--
-- * A decision ("handled", "never") from the inbox is signed by the database: web_decide() takes
--   the session id from the person's cookie, and records the user of that live session as
--   decided_by, their first desk phone as the extension, the call's own number key and the
--   database's clock. cbd_web no longer inserts into caller_dispositions, so it cannot sign a
--   decision with another person's name, date one, or mark a number that is not the call's.
--   (A desk phone's decision stays a plain INSERT by cbd_desk, of the columns that grants.sql
--   names: decided_by is '' and decided_at now(), the columns' defaults.)
-- * A sign-in link is used once: consume_sign_in_link() is the one write cbd_web has on
--   web_sign_in_links, so a used link cannot be made new again, nor an expired one extended.
--
-- NOTIFY is not a privilege in PostgreSQL: any role that can connect may NOTIFY
-- callback_desk_changed (or call pg_notify()), and only a superuser could take pg_notify() away.
-- The channel is built so that this does not matter: the triggers of sql/0004_web.sql send only
-- a table's name, and the inbox (callback_desk/web/live.py) trusts nothing in a notification but
-- "something may have changed": each browser re-reads its own list with its own rights. A forged
-- notification costs a re-read.

CREATE FUNCTION web_decide(p_session text, p_call bigint, p_disposition text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    INSERT INTO caller_dispositions (call_id, number_key, disposition, extension, decided_by)
    SELECT c.id, c.number_key, p_disposition, coalesce(u.extensions[1], ''), u.username
    FROM web_sessions s
    JOIN web_users u ON u.id = s.user_id
    JOIN calls c ON c.id = p_call AND c.outcome = 'missed'
    WHERE s.id = web_session_key(p_session) AND s.ended_at IS NULL AND NOT u.disabled
    RETURNING id
$$;

-- Atomic: of two POSTs with the same link, exactly one gets the row.
CREATE FUNCTION consume_sign_in_link(p_jti text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    UPDATE web_sign_in_links SET used_at = now()
    WHERE jti = p_jti AND used_at IS NULL AND expires_at > now()
    RETURNING user_id
$$;

REVOKE ALL ON FUNCTION web_decide(text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION consume_sign_in_link(text) FROM PUBLIC;
