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
-- Atomic: of two POSTs with the same link, exactly one gets the row.
UPDATE web_sign_in_links SET used_at = now()
WHERE jti = $1 AND purpose = 'sign-in' AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: web_audit
INSERT INTO web_audit (username, action, call_id, detail) VALUES ($1, $2, $3, $4);

-- name: web_dispose
INSERT INTO caller_dispositions (call_id, number_key, disposition, extension, decided_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: web_history_calls
-- Every missed call from the caller of missed call $1 (by number; the call itself when the
-- number is withheld), oldest first.
SELECT m.id, m.number, m.number_key, m.name, m.did, m.rang, m.extensions, m.reason, m.started_at,
       m.ring_seconds, m.reached_voicemail, m.returned_at, m.returned_how
FROM missed_calls m, calls target
WHERE target.id = $1
  AND (m.id = target.id OR m.number_key = target.number_key)
ORDER BY m.started_at, m.id;

-- name: web_history_attempts
SELECT a.id, a.call_id, a.extension, a.started_at, a.ended_at, a.dial_status, a.talk_seconds,
       coalesce((SELECT string_agg(u.username, ', ' ORDER BY u.username) FROM web_users u
                 WHERE a.extension = ANY (u.extensions)), '') AS users
FROM callback_attempts a
JOIN calls t ON t.id = a.call_id, calls target
WHERE target.id = $1
  AND (t.id = target.id OR t.number_key = target.number_key)
ORDER BY a.started_at, a.id;

-- name: web_history_dispositions
SELECT d.id, d.call_id, d.disposition, d.extension, d.decided_by, d.decided_at
FROM caller_dispositions d, calls target
WHERE target.id = $1
  AND (d.call_id = target.id OR d.number_key = target.number_key)
ORDER BY d.decided_at, d.id;

-- name: web_history_audit
SELECT w.at, w.username, w.action, w.detail
FROM web_audit w
JOIN calls t ON t.id = w.call_id, calls target
WHERE target.id = $1
  AND (t.id = target.id OR t.number_key = target.number_key)
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
