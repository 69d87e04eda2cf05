-- What each component may do, table by table (least privilege). The database owner (who runs
-- `callback-desk migrate`) keeps every right; the components connect as members of:
--   cbd_listener  the AMI listener: records calls (insert, and upgrade a call a second writer
--                 decided with more evidence), its heartbeat and the gaps it fills
--   cbd_desk      the AGI menu and click-to-call: reads who awaits a callback, records
--                 callback attempts and the therapist's dispositions; cannot add or remove calls
--   cbd_web       the web inbox: what the desk side may do, plus its own tables
--   cbd_report    the morning report: reads; keeps the numbers' forms it works out; issues
--                 only the sign-in links its email carries
--   cbd_purge     the retention job: deletes calls by age, closes callback attempts left open
-- Writes with a rule that a grant cannot state (append-only attempts, deletion by age, links
-- only for whom the email goes to) are functions of sql/0008_least_privilege.sql, run with the
-- owner's rights: a role may call exactly the ones granted here.
-- Applied by `callback-desk grant` and again by every `callback-desk migrate`, in one
-- transaction: everything is revoked, then granted as written here, so the database always
-- matches this file. A migration that adds a table or view adds its lines here in the same
-- change (tests/db/test_roles.py fails on a table that is not mentioned).
REVOKE ALL ON ALL TABLES IN SCHEMA public
    FROM cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public
    FROM cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public
    FROM cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;
-- PostgreSQL lets PUBLIC execute every new function: fine for the pure helpers
-- (line_extension, call_evidence), never for one that runs with the owner's rights.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prosecdef
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA public TO cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;

-- Every process checks the schema version before it starts.
GRANT SELECT ON schema_migrations TO cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;

-- calls: written by the listener only. The desk side reads them (who awaits a callback; the
-- trigger that copies a callback's number key into callback_attempts reads calls as the
-- caller of the INSERT).
GRANT SELECT, INSERT, UPDATE ON calls TO cbd_listener;
GRANT SELECT ON calls TO cbd_desk, cbd_web, cbd_report;
-- Retention deletes by age only (a cut-off at least a day back); the attempts, dispositions and
-- audit rows of a deleted call go with it.
GRANT EXECUTE ON FUNCTION purge_calls_before(timestamptz) TO cbd_purge;

-- missed_calls (view): every missed call and how it was returned.
GRANT SELECT ON missed_calls TO cbd_desk, cbd_web, cbd_report;

-- awaiting_calls (0009_awaiting_state.sql): the missed calls awaiting a callback, read by every
-- list. Nobody writes it: the triggers on calls, callback_attempts and caller_dispositions keep
-- it with the owner's rights, whichever role's statement fired them.
GRANT SELECT ON awaiting_calls TO cbd_desk, cbd_web, cbd_report;

-- number_forms (0016_number_forms.sql): numbers as people read them, kept by the report that
-- first worked them out. Derived from the number key alone: the report may add to it, nothing
-- may change or delete a form (the purge function does, with the owner's rights). Read by every
-- reader of the awaiting document (callback_desk/core/awaiting.py), which the desk side and the
-- inbox read too.
GRANT SELECT ON number_forms TO cbd_desk, cbd_web;
GRANT SELECT, INSERT ON number_forms TO cbd_report;

-- callback_attempts: append-only for the desk side. An attempt is opened running, now (the
-- columns below only: no outcome, no start time of one's choosing), finished once, or withdrawn
-- while it has not dialled; a finished attempt is never changed or deleted by a component.
GRANT SELECT ON callback_attempts TO cbd_desk, cbd_web, cbd_report;
GRANT INSERT (call_id, extension, channel_id) ON callback_attempts TO cbd_desk, cbd_web;
GRANT EXECUTE ON FUNCTION finish_callback_attempt(bigint, text, integer),
                          withdraw_callback_attempt(bigint)
    TO cbd_desk, cbd_web;
-- An attempt still running after a day is closed as UNKNOWN, never as an answered callback.
GRANT EXECUTE ON FUNCTION close_stale_callback_attempts(timestamptz) TO cbd_purge;

-- caller_dispositions: "handled" / "never" from a desk or the inbox; never edited afterwards.
-- decided_at is the database's clock (its default), not the writer's; decided_by is '' from a
-- desk phone (its default: the extension says which) and, from the inbox, the name of the user
-- of the live session web_decide() was given (sql/0011_signed_writes.sql): the inbox does not
-- insert, so it signs no decision with a name of its choosing.
GRANT SELECT ON caller_dispositions TO cbd_desk, cbd_web, cbd_report;
GRANT INSERT (call_id, number_key, disposition, extension) ON caller_dispositions TO cbd_desk;
GRANT EXECUTE ON FUNCTION web_decide(text, bigint, text) TO cbd_web;

-- Gaps (0005_gaps.sql): the listener's heartbeat and the holes it found and filled from the
-- PBX's CDR/CEL; the report lists the gaps of its window.
GRANT SELECT, INSERT, UPDATE ON listener_heartbeats TO cbd_listener;
GRANT SELECT, INSERT, UPDATE ON listener_gaps TO cbd_listener;
GRANT SELECT ON listener_gaps TO cbd_report, cbd_web;

-- The callback inbox (0004_web.sql). Its users are managed by `callback-desk user ...` (run as
-- the owner or as cbd_web): cbd_web adds users and changes a password or whether a user is
-- disabled, never a role or a name. The report's email carries a single-use sign-in link for
-- each inbox user it mails: the one write the report role has, through issue_sign_in_link()
-- (it never reads web_users, whose rows carry the password hashes). The inbox uses a link once,
-- through consume_sign_in_link(): it cannot make a used link new again nor extend one.
GRANT SELECT, INSERT ON web_users TO cbd_web;
GRANT UPDATE (password_hash, password_changed_at, disabled) ON web_users TO cbd_web;
GRANT SELECT ON web_sign_in_links TO cbd_web;
GRANT EXECUTE ON FUNCTION consume_sign_in_link(text) TO cbd_web;
GRANT EXECUTE ON FUNCTION issue_sign_in_link(text, text, timestamptz) TO cbd_report;
GRANT SELECT, INSERT ON web_audit TO cbd_web;

-- Sessions of the inbox (0010_sessions.sql): the inbox reads them (an admin's list of where a
-- user is signed in; ids are hashes) and writes them only through these functions: start one
-- for an enabled user, check one (ending it when idle or too old), sign one out, end all of a
-- user's. A new password or a disabled user ends them by a trigger, whoever changed the row.
GRANT SELECT ON web_sessions TO cbd_web;
GRANT EXECUTE ON FUNCTION web_session_start(text, bigint, text),
                          web_session_user(text, interval, interval, boolean),
                          web_session_sign_out(text),
                          web_sessions_end(bigint, text)
    TO cbd_web;

-- The admin pages (0012_admin.sql): users are added, changed, disabled or enabled, given a
-- password link or signed out everywhere only through these functions, which act only for the
-- user of an open session who is an enabled admin, and keep one enabled admin; a password link
-- is spent by its holder; a mark is undone by the person who set it, within minutes.
GRANT EXECUTE ON FUNCTION web_admin_add_user(text, text, text, text, text[], text, text,
                                             timestamptz),
                          web_admin_change_user(text, bigint, text, text[], text),
                          web_admin_set_disabled(text, bigint, boolean),
                          web_admin_password_link(text, bigint, text, timestamptz),
                          web_admin_sign_out(text, bigint),
                          web_password_link_use(text, text),
                          web_undo_disposition(text, bigint, interval)
    TO cbd_web;
