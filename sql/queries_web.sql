-- Named queries of the callback inbox (callback_desk.web.store). Bound parameters only.

-- name: web_user_add
INSERT INTO web_users (username, email, role, extensions, password_hash)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: web_user_by_name
SELECT id, username, email, role, extensions, password_hash, disabled, password_changed_at
FROM web_users WHERE username = $1;

-- name: web_user_by_id
SELECT id, username, email, role, extensions, password_hash, disabled, password_changed_at
FROM web_users WHERE id = $1;

-- name: web_users
SELECT id, username, email, role, extensions, password_hash, disabled, password_changed_at
FROM web_users ORDER BY username;

-- name: web_user_passwd
UPDATE web_users SET password_hash = $2, password_changed_at = now()
WHERE username = $1 RETURNING id;

-- name: web_user_rehash
-- A stronger hash for the same password (argon2 parameters raised): sessions stay valid.
UPDATE web_users SET password_hash = $2 WHERE id = $1;

-- name: web_user_disable
UPDATE web_users SET disabled = $2 WHERE username = $1 RETURNING id;

-- name: web_link_issue
-- The morning report's one write (as cbd_report): whom the link is for is the database's call.
SELECT issue_sign_in_link($1, $2, $3);

-- name: web_link_consume
-- The link's user, once (sql/0011_signed_writes.sql; sign-in links only: sql/0012_admin.sql).
SELECT consume_sign_in_link($1);

-- name: web_audit
INSERT INTO web_audit (username, action, call_id, detail) VALUES ($1, $2, $3, $4);

-- name: web_sign_in_throttles
-- Sign-in waits the limit set (callback_desk.web.store.THROTTLED), newest first, for admins.
SELECT at, username, action, detail
FROM web_audit
WHERE call_id IS NULL AND action = $1
ORDER BY at DESC, id DESC
LIMIT $2;

-- name: web_dispose
-- Signed by the database with the user of live session $1 (sql/0011_signed_writes.sql); NULL
-- when the session has ended or the call is no missed call.
SELECT web_decide($1, $2, $3);

-- name: web_history_calls
-- The history of a caller, as one person may see it. $1: a missed call of the caller; then, as
-- each query needs them: the lines the viewer hears (in_scope(), sql/0007_line_scope.sql; NULL:
-- every line), the viewer's desk phones and their user name (both NULL: everyone's rows, for the
-- front desk and admins). A therapist sees the caller's missed calls on their lines and only
-- their own attempts, decisions and audit rows: a desk phone's row is its extension's, an inbox
-- row its user's (a shared desk phone's web rows stay their author's).
--
-- Every missed call from the caller of missed call $1 (by number; the call itself when the
-- number is withheld) on the viewer's lines, oldest first. by_colleague: the call was returned
-- by something the viewer does not see (another desk's callback or decision, a call on another
-- line): the page says "returned by a colleague" and nothing more. The returning event is the
-- one missed_calls found: same kind, same caller, same instant.
SELECT m.id, m.number, m.number_key, m.name, m.did, m.rang, m.extensions, m.reason, m.started_at,
       m.ring_seconds, m.reached_voicemail, m.returned_at, m.returned_how,
       CASE
           WHEN m.returned_how IS NULL OR $3::text[] IS NULL THEN false
           WHEN m.returned_how = 'callback_answered' THEN NOT EXISTS (
               SELECT 1 FROM callback_attempts a JOIN calls t ON t.id = a.call_id
               WHERE (a.call_id = m.id OR t.number_key = m.number_key)
                 AND a.dial_status = 'ANSWER' AND a.started_at = m.returned_at
                 AND a.extension = ANY ($3))
           WHEN m.returned_how LIKE 'marked\_%' THEN NOT EXISTS (
               SELECT 1 FROM caller_dispositions d
               WHERE (d.call_id = m.id OR d.number_key = m.number_key)
                 AND d.decided_at = m.returned_at
                 -- whose a decision is: as in web_history_dispositions
                 AND (d.decided_by = $4 OR (d.decided_by = '' AND d.extension = ANY ($3))))
           ELSE NOT EXISTS (
               SELECT 1 FROM calls c
               WHERE c.number_key = m.number_key AND c.started_at = m.returned_at
                 AND in_scope($2, c.did, c.extensions))
       END AS by_colleague
FROM missed_calls m, calls target
WHERE target.id = $1
  AND (m.id = target.id OR m.number_key = target.number_key)
  AND in_scope($2, m.did, m.extensions)
ORDER BY m.started_at, m.id;

-- name: web_history_attempts
SELECT a.id, a.call_id, a.extension, a.started_at, a.ended_at, a.dial_status, a.talk_seconds,
       coalesce((SELECT string_agg(u.username, ', ' ORDER BY u.username) FROM web_users u
                 WHERE a.extension = ANY (u.extensions)
                   AND ($3::text IS NULL OR u.username = $3)), '') AS users
FROM callback_attempts a
JOIN calls t ON t.id = a.call_id, calls target
WHERE target.id = $1
  AND (t.id = target.id OR t.number_key = target.number_key)
  AND ($2::text[] IS NULL OR a.extension = ANY ($2))
ORDER BY a.started_at, a.id;

-- name: web_history_dispositions
SELECT d.id, d.call_id, d.disposition, d.extension, d.decided_by, d.decided_at
FROM caller_dispositions d, calls target
WHERE target.id = $1
  AND (d.call_id = target.id OR d.number_key = target.number_key)
  AND ($2::text[] IS NULL OR d.decided_by = $3 OR (d.decided_by = '' AND d.extension = ANY ($2)))
ORDER BY d.decided_at, d.id;

-- name: web_history_audit
SELECT w.at, w.username, w.action, w.detail
FROM web_audit w
JOIN calls t ON t.id = w.call_id, calls target
WHERE target.id = $1
  AND (t.id = target.id OR t.number_key = target.number_key)
  AND ($2::text IS NULL OR w.username = $2)
ORDER BY w.at, w.id;

-- name: web_session_start
-- A session row for a sign-in (sql/0010_sessions.sql); false when the user is disabled or gone.
SELECT web_session_start($1, $2, $3);

-- name: web_session_user
-- The user of a live session (the function ends it when idle or too old), or no row.
SELECT u.id, u.username, u.email, u.role, u.extensions, u.password_hash, u.disabled,
       u.password_changed_at
FROM web_session_user($1, $2, $3, $4) AS s (user_id)
JOIN web_users u ON u.id = s.user_id
WHERE NOT u.disabled;

-- name: web_session_sign_out
SELECT web_session_sign_out($1);

-- name: web_sessions_end
SELECT web_sessions_end($1, $2);

-- name: web_sessions_of
-- A user's sessions, newest first (open and ended), for an admin.
SELECT created_at, last_seen_at, agent, ended_at, ended_why
FROM web_sessions WHERE user_id = $1
ORDER BY created_at DESC
LIMIT $2;

-- name: web_admin_users
-- Every user with when they were last seen (any session), for the admin pages.
SELECT u.id, u.username, u.email, u.role, u.extensions, u.password_hash, u.disabled,
       u.password_changed_at,
       (SELECT max(s.last_seen_at) FROM web_sessions s WHERE s.user_id = u.id) AS last_seen_at,
       (SELECT count(*) FROM web_sessions s WHERE s.user_id = u.id AND s.ended_at IS NULL)
           AS open_sessions
FROM web_users u ORDER BY u.username;

-- name: web_admin_add_user
SELECT web_admin_add_user($1, $2, $3, $4, $5, $6, $7, $8);

-- name: web_admin_change_user
SELECT web_admin_change_user($1, $2, $3, $4, $5);

-- name: web_admin_set_disabled
SELECT web_admin_set_disabled($1, $2, $3);

-- name: web_admin_password_link
SELECT web_admin_password_link($1, $2, $3, $4);

-- name: web_admin_sign_out
SELECT web_admin_sign_out($1, $2);

-- name: web_password_link_use
SELECT web_password_link_use($1, $2);

-- name: web_undoable
-- The marks this inbox user set within the undo window, newest first, with their caller.
SELECT d.id, d.call_id, d.disposition, d.decided_at, c.number, c.number_key, c.name
FROM caller_dispositions d
JOIN calls c ON c.id = d.call_id
WHERE d.decided_by = $1 AND d.decided_at > now() - $2::interval
ORDER BY d.decided_at DESC, d.id DESC
LIMIT 20;

-- name: web_undo_disposition
SELECT web_undo_disposition($1, $2, $3);
