-- The callback inbox (callback_desk.web): its users, single-use sign-in links, an audit of what
-- was done from the web, who set a disposition, and a notification when anything that decides
-- "awaiting a callback" changes (the inbox's live updates).

CREATE TABLE web_users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{1,40}$'),
    -- The address the morning email goes to: it carries this user's sign-in link.
    email               text        NOT NULL DEFAULT '',
    role                text        NOT NULL CHECK (role IN ('therapist', 'frontdesk', 'admin')),
    -- The desk phones this person may ring from; their lines are what these extensions hear
    -- ([agi.extensions]), so the web and the desk phone share one scope.
    extensions          text[]      NOT NULL DEFAULT '{}',
    -- argon2id, in the PHC string format (parameters travel with the hash).
    password_hash       text        NOT NULL,
    disabled            boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- Sessions issued before this are void: a new password signs every old session out.
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

-- A sign-in link is good once: its id is recorded here when issued and consumed by the POST.
CREATE TABLE web_sign_in_links (
    jti         text        PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES web_users (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- What people did from the web, and what they were refused; read-only from the web.
CREATE TABLE web_audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    username  text        NOT NULL,
    action    text        NOT NULL,
    call_id   bigint      REFERENCES calls (id) ON DELETE CASCADE,
    detail    text        NOT NULL DEFAULT ''
);

CREATE INDEX web_audit_call_idx ON web_audit (call_id);

-- Who set a disposition from the web ('' when it came from a desk phone: see extension).
ALTER TABLE caller_dispositions ADD COLUMN decided_by text NOT NULL DEFAULT '';

-- One statement-level notification per change, carrying only the table's name: no caller data
-- travels on the channel. Keep the channel name in sync with callback_desk.web.live.CHANNEL.
CREATE FUNCTION callback_desk_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('callback_desk_changed', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_changed AFTER INSERT OR UPDATE OR DELETE ON calls
    FOR EACH STATEMENT EXECUTE FUNCTION callback_desk_changed();
CREATE TRIGGER callback_attempts_changed AFTER INSERT OR UPDATE OR DELETE ON callback_attempts
    FOR EACH STATEMENT EXECUTE FUNCTION callback_desk_changed();
CREATE TRIGGER caller_dispositions_changed AFTER INSERT OR UPDATE OR DELETE ON caller_dispositions
    FOR EACH STATEMENT EXECUTE FUNCTION callback_desk_changed();
