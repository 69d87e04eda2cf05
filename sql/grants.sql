-- What each component may do, table by table (least privilege). The database owner (who runs
-- `callback-desk migrate`) keeps every right; the components connect as members of:
--   cbd_listener  the AMI listener: records calls (insert, and upgrade a call a second writer
--                 decided with more evidence), its heartbeat and the gaps it fills
--   cbd_desk      the AGI menu and click-to-call: reads who awaits a callback, records
--                 callback attempts and the therapist's dispositions; cannot add or remove calls
--   cbd_web       the web inbox: what the desk side may do, plus its own tables
--   cbd_report    the morning report: reads; writes only the sign-in links its email carries
--   cbd_purge     the retention job: deletes old calls, closes callback attempts left open
-- Applied by `callback-desk grant` and again by every `callback-desk migrate`, in one
-- transaction: everything is revoked, then granted as written here, so the database always
-- matches this file. A migration that adds a table or view adds its lines here in the same
-- change (tests/db/test_roles.py fails on a table that is not mentioned).
REVOKE ALL ON ALL TABLES IN SCHEMA public
    FROM cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public
    FROM cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;
GRANT USAGE ON SCHEMA public TO cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;

-- Every process checks the schema version before it starts.
GRANT SELECT ON schema_migrations TO cbd_listener, cbd_desk, cbd_web, cbd_report, cbd_purge;

-- calls: written by the listener only. The desk side reads them (who awaits a callback; the
-- trigger that copies a callback's number key into callback_attempts reads calls as the
-- caller of the INSERT).
GRANT SELECT, INSERT, UPDATE ON calls TO cbd_listener;
GRANT SELECT ON calls TO cbd_desk, cbd_web, cbd_report, cbd_purge;
GRANT DELETE ON calls TO cbd_purge;

-- missed_calls (view): every missed call and how it was returned.
GRANT SELECT ON missed_calls TO cbd_desk, cbd_web, cbd_report;

-- awaiting_calls (0008_awaiting_state.sql): the missed calls awaiting a callback, read by every
-- list. Nobody writes it: the triggers on calls, callback_attempts and caller_dispositions keep
-- it with the owner's rights, whichever role's statement fired them.
GRANT SELECT ON awaiting_calls TO cbd_desk, cbd_web, cbd_report;

-- callback_attempts: opened and closed by the desk side; a desk may withdraw an attempt that
-- never dialled (dial_status still NULL), and may not move an attempt to another call.
GRANT SELECT, INSERT, DELETE ON callback_attempts TO cbd_desk, cbd_web;
GRANT UPDATE (ended_at, dial_status, talk_seconds) ON callback_attempts TO cbd_desk, cbd_web;
GRANT SELECT ON callback_attempts TO cbd_report, cbd_purge;
GRANT UPDATE (ended_at, dial_status, talk_seconds) ON callback_attempts TO cbd_purge;

-- caller_dispositions: "handled" / "never" from a desk or the inbox; never edited afterwards.
GRANT SELECT, INSERT ON caller_dispositions TO cbd_desk, cbd_web;
GRANT SELECT ON caller_dispositions TO cbd_report;

-- Gaps (0005_gaps.sql): the listener's heartbeat and the holes it found and filled from the
-- PBX's CDR/CEL; the report lists the gaps of its window.
GRANT SELECT, INSERT, UPDATE ON listener_heartbeats TO cbd_listener;
GRANT SELECT, INSERT, UPDATE ON listener_gaps TO cbd_listener;
GRANT SELECT ON listener_gaps TO cbd_report, cbd_web;

-- The callback inbox (0004_web.sql). Its users are managed by `callback-desk web user ...`
-- (run as the owner or as cbd_web). The report's email carries a single-use sign-in link for
-- each inbox user it mails: the one write the report role has.
GRANT SELECT, INSERT, UPDATE ON web_users TO cbd_web;
GRANT SELECT ON web_users TO cbd_report;
GRANT SELECT, INSERT, UPDATE ON web_sign_in_links TO cbd_web;
GRANT INSERT ON web_sign_in_links TO cbd_report;
GRANT SELECT, INSERT ON web_audit TO cbd_web;
