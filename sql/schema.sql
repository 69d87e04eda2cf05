-- The schema the migrations build, for reading (pg_dump --schema-only, normalised).
-- Generated: CALLBACK_DESK_WRITE_SCHEMA=1 .venv/bin/pytest tests/db/test_schema.py
-- Never applied: the numbered migrations are the source of truth.
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
CREATE FUNCTION public.line_extension(dial text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN "substring"(dial, '^(?:[A-Za-z0-9_-]+/)?(?:FM(?:GL|PR)-)?([^/@#]+)'::text);
CREATE FUNCTION public.line_extensions(dials text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(SELECT e.e FROM unnest(line_extensions.dials) WITH ORDINALITY u(dial, i), LATERAL public.line_extension(u.dial) e(e) WHERE (e.e IS NOT NULL) GROUP BY e.e ORDER BY (min(u.i)));
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
    RETURN gone;
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
CREATE TABLE public.web_sign_in_links (
    jti text NOT NULL,
    user_id bigint NOT NULL,
    issued_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone
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
ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY public.web_audit
    ADD CONSTRAINT web_audit_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.web_sign_in_links
    ADD CONSTRAINT web_sign_in_links_pkey PRIMARY KEY (jti);
ALTER TABLE ONLY public.web_users
    ADD CONSTRAINT web_users_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.web_users
    ADD CONSTRAINT web_users_username_key UNIQUE (username);
CREATE INDEX callback_attempts_call_idx ON public.callback_attempts USING btree (call_id);
CREATE INDEX callback_attempts_number_idx ON public.callback_attempts USING btree (number_key, started_at);
CREATE INDEX caller_dispositions_call_idx ON public.caller_dispositions USING btree (call_id);
CREATE INDEX caller_dispositions_number_idx ON public.caller_dispositions USING btree (number_key, decided_at);
CREATE INDEX calls_contact_idx ON public.calls USING btree (number_key, started_at) WHERE (outcome = ANY (ARRAY['answered'::text, 'voicemail'::text]));
CREATE INDEX calls_missed_started_idx ON public.calls USING btree (started_at) WHERE (outcome = 'missed'::text);
CREATE INDEX calls_number_key_started_idx ON public.calls USING btree (number_key, started_at);
CREATE INDEX listener_gaps_pbx_started_idx ON public.listener_gaps USING btree (pbx, started_at);
CREATE INDEX web_audit_call_idx ON public.web_audit USING btree (call_id);
CREATE TRIGGER callback_attempts_changed AFTER INSERT OR DELETE OR UPDATE ON public.callback_attempts FOR EACH STATEMENT EXECUTE FUNCTION public.callback_desk_changed();
CREATE TRIGGER callback_attempts_number_key BEFORE INSERT OR UPDATE OF call_id ON public.callback_attempts FOR EACH ROW EXECUTE FUNCTION public.callback_attempts_number_key();
CREATE TRIGGER caller_dispositions_changed AFTER INSERT OR DELETE OR UPDATE ON public.caller_dispositions FOR EACH STATEMENT EXECUTE FUNCTION public.callback_desk_changed();
CREATE TRIGGER calls_changed AFTER INSERT OR DELETE OR UPDATE ON public.calls FOR EACH STATEMENT EXECUTE FUNCTION public.callback_desk_changed();
ALTER TABLE ONLY public.callback_attempts
    ADD CONSTRAINT callback_attempts_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.caller_dispositions
    ADD CONSTRAINT caller_dispositions_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.calls
    ADD CONSTRAINT calls_gap_id_fkey FOREIGN KEY (gap_id) REFERENCES public.listener_gaps(id) ON DELETE SET NULL;
ALTER TABLE ONLY public.web_audit
    ADD CONSTRAINT web_audit_call_id_fkey FOREIGN KEY (call_id) REFERENCES public.calls(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.web_sign_in_links
    ADD CONSTRAINT web_sign_in_links_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.web_users(id) ON DELETE CASCADE;
