"""Reports, the moderation queue and its actions, suspensions, forced logout, security events.

Revision ID: 0021_reports_moderation
Revises: 0020_message_event_shape

* ``reports``: a signed-in user reports a post, comment, question, answer, AI
  answer, chat message, resource or user they can see, with a reason. One open
  report per reporter and target (a partial unique index). A report keeps a
  snapshot of what was reported, taken when it was made, so an admin reviews
  what the reporter saw, even a chat message in a room the admin is not in (the
  admin reads the reported message only, never the room). Reporters read their
  own reports; admins read all; nobody else, the reported user included.
  Nothing but the SECURITY DEFINER functions below changes a report.
* ``hidden_at`` on posts, comments, questions, answers, AI answers and
  resources: hidden content is seen only by its author and by admins (one
  RESTRICTIVE policy per table, so no existing policy had to change). A target
  is hidden when its open reports reach ``moderation_settings.hide_threshold``
  (3 unless an admin changes it). Chat messages and users are never hidden
  automatically: a chat message was already delivered to the room, and hiding
  a person on reports alone would let a group silence anyone; both wait for an
  admin.
* ``moderate(...)``: an admin resolves every open report of a target at once by
  dismissing (which shows hidden content again), hiding, deleting (a chat
  message is soft-deleted, which blanks it in the event log too), warning the
  author, suspending them until a time, or deactivating them. The author gets a
  system notification with the reason; the reporters' names never reach them.
  Every action is written to the audit log with the request id.
* ``users.suspended_until``: a suspended account cannot sign in, refresh or use
  an access token until then, checked in the same places
  as ``is_active``. Its refresh tokens are revoked when suspended.
* ``admin_end_sessions(user)``: forced logout, logged.
* ``audit_security_event``: for the server (service_role) to log security events
  such as repeated login failures; refresh-token reuse is logged by the database
  itself when ``focushub_auth.rotate_session`` detects it.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0021_reports_moderation"
down_revision = "0020_message_event_shape"
branch_labels = None
depends_on = None

# table, the column naming its author (NULL: no author)
_HIDEABLE = [
    ("posts", "author_id"), ("comments", "author_id"), ("questions", "author_id"),
    ("answers", "author_id"), ("ai_answers", None), ("resources", "author_id"),
]


def _hidden_policy_name(table: str, author: str | None) -> str:
    if author is None:
        return "Hidden AI answers only to admins"
    return f"Hidden {table} only to author and admins"


def _hidden_policies() -> str:
    out = []
    for table, author in _HIDEABLE:
        owner = f"{author} = (SELECT auth.uid()) OR " if author else ""
        out.append(f"""
    ALTER TABLE public.{table} ADD COLUMN hidden_at timestamptz;
    CREATE POLICY "{_hidden_policy_name(table, author)}" ON public.{table}
        AS RESTRICTIVE FOR SELECT
        USING (hidden_at IS NULL OR {owner}(SELECT focushub_auth.is_admin()));""")
    return "\n".join(out)


# The session functions as 0004 and 0018 wrote them (downgrade restores them word for
# word); upgrade() applies the edits in _SUSPENSION_EDITS to them.
_BEFORE = {
    "start_session": """
    CREATE OR REPLACE FUNCTION focushub_auth.start_session(p_user_id UUID, p_token_hash BYTEA, p_expires_at TIMESTAMPTZ)
    RETURNS UUID
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        family UUID := gen_random_uuid();
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM public.users WHERE id = p_user_id AND is_active) THEN
            RAISE EXCEPTION 'inactive_user: this account is deactivated';
        END IF;
        INSERT INTO focushub_auth.refresh_tokens (user_id, family_id, token_hash, expires_at)
        VALUES (p_user_id, family, p_token_hash, p_expires_at);
        UPDATE public.users SET last_login = now() WHERE id = p_user_id;
        RETURN family;
    END $$;
""",
    "rotate_session": """
    CREATE OR REPLACE FUNCTION focushub_auth.rotate_session(p_token_hash BYTEA, p_new_hash BYTEA, p_expires_at TIMESTAMPTZ)
    RETURNS TABLE (status TEXT, user_id UUID, family_id UUID, email TEXT, app_role public.user_role)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        tok focushub_auth.refresh_tokens;
        usr public.users;
    BEGIN
        SELECT * INTO tok FROM focushub_auth.refresh_tokens t WHERE t.token_hash = p_token_hash FOR UPDATE;
        IF NOT FOUND OR tok.revoked_at IS NOT NULL THEN
            RETURN QUERY SELECT 'invalid'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        IF tok.spent_at IS NOT NULL THEN
            UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
            WHERE focushub_auth.refresh_tokens.family_id = tok.family_id AND revoked_at IS NULL;
            RETURN QUERY SELECT 'reused'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        IF tok.expires_at <= now() THEN
            RETURN QUERY SELECT 'expired'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        SELECT * INTO usr FROM public.users u WHERE u.id = tok.user_id;
        IF NOT usr.is_active THEN
            UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
            WHERE focushub_auth.refresh_tokens.family_id = tok.family_id AND revoked_at IS NULL;
            RETURN QUERY SELECT 'inactive'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        UPDATE focushub_auth.refresh_tokens SET spent_at = now() WHERE id = tok.id;
        INSERT INTO focushub_auth.refresh_tokens (user_id, family_id, token_hash, expires_at)
        VALUES (tok.user_id, tok.family_id, p_new_hash, p_expires_at);
        RETURN QUERY SELECT 'ok'::text, usr.id, tok.family_id, usr.email::text, usr.role;
    END $$;
""",
    "session_is_active": """
    CREATE OR REPLACE FUNCTION public.session_is_active(p_session uuid, p_user uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p_session IS NULL OR (
            EXISTS (SELECT 1 FROM focushub_auth.refresh_tokens t
                    WHERE t.family_id = p_session AND t.user_id = p_user AND t.revoked_at IS NULL)
            AND EXISTS (SELECT 1 FROM public.users u WHERE u.id = p_user AND u.is_active))
    $$;
""",
}
_LOGIN_LOOKUP_BEFORE = """
    CREATE FUNCTION focushub_auth.login_lookup(p_email TEXT)
    RETURNS TABLE (user_id UUID, email TEXT, password_hash TEXT, is_active BOOLEAN, app_role public.user_role)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT u.id, u.email::text, c.password_hash, u.is_active, u.role
        FROM public.users u JOIN focushub_auth.credentials c ON c.user_id = u.id
        WHERE lower(u.email) = lower(p_email)
    $$;
"""
_SUSPENSION_EDITS = {
    "start_session": [
        ("WHERE id = p_user_id AND is_active)",
         "WHERE id = p_user_id AND is_active\n"
         "                       AND (suspended_until IS NULL OR suspended_until <= now()))"),
        ("this account is deactivated'", "this account is deactivated or suspended'"),
    ],
    "rotate_session": [
        ("IF NOT usr.is_active THEN",
         "IF NOT (usr.is_active AND (usr.suspended_until IS NULL OR usr.suspended_until <= now())) THEN"),
        ("""            RETURN QUERY SELECT 'reused'""",
         """            INSERT INTO public.audit_log (action, target_type, target_id, details)
            VALUES ('security.refresh_token_reused', 'user', tok.user_id,
                    jsonb_build_object('family_id', tok.family_id));
            RETURN QUERY SELECT 'reused'"""),
    ],
    "session_is_active": [
        ("u.id = p_user AND u.is_active)",
         "u.id = p_user AND u.is_active\n"
         "                    AND (u.suspended_until IS NULL OR u.suspended_until <= now()))"),
    ],
}


def _with_suspension(name: str) -> str:
    sql = _BEFORE[name]
    for old, new in _SUSPENSION_EDITS[name]:
        assert old in sql, (name, old)
        sql = sql.replace(old, new)
    return sql


def upgrade() -> None:
    run_sql(f"""
    CREATE TYPE report_target AS ENUM (
        'post', 'comment', 'question', 'answer', 'ai_answer', 'chat_message', 'resource', 'user');
    CREATE TYPE report_reason AS ENUM ('spam', 'harassment', 'wrong', 'other');
    CREATE TYPE report_status AS ENUM ('open', 'dismissed', 'actioned');

    ALTER TABLE public.users ADD COLUMN suspended_until timestamptz;
    {_hidden_policies()}

    -- ------------------------------------------------------------ settings
    CREATE TABLE public.moderation_settings (
        id boolean PRIMARY KEY DEFAULT true CONSTRAINT moderation_settings_one_row CHECK (id),
        hide_threshold integer NOT NULL DEFAULT 3
            CONSTRAINT moderation_settings_hide_threshold_range CHECK (hide_threshold BETWEEN 1 AND 1000),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO public.moderation_settings DEFAULT VALUES;
    ALTER TABLE public.moderation_settings ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.moderation_settings FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON public.moderation_settings TO authenticated, service_role;
    CREATE POLICY "Admins can read moderation settings" ON public.moderation_settings
        FOR SELECT TO authenticated USING ((SELECT focushub_auth.is_admin()));
    CREATE POLICY "The server can read moderation settings" ON public.moderation_settings
        FOR SELECT TO service_role USING (true);
    -- The threshold in force: the table's row, or the default if the row is gone.
    CREATE FUNCTION public.hide_threshold() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT coalesce((SELECT hide_threshold FROM moderation_settings), 3) $$;

    -- ------------------------------------------------------------ reports
    CREATE TABLE public.reports (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        reporter_id uuid DEFAULT auth.uid() REFERENCES public.users(id) ON DELETE SET NULL,
        target_type report_target NOT NULL,
        target_id uuid NOT NULL,
        target_user_id uuid REFERENCES public.users(id) ON DELETE SET NULL,
        reason report_reason NOT NULL,
        details text CONSTRAINT reports_details_length CHECK (char_length(details) <= 1000),
        snapshot jsonb NOT NULL DEFAULT '{{}}',
        status report_status NOT NULL DEFAULT 'open',
        created_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz,
        resolved_by uuid REFERENCES public.users(id) ON DELETE SET NULL,
        resolution text CONSTRAINT reports_resolution_length CHECK (char_length(resolution) <= 1100),
        CONSTRAINT reports_other_needs_details
            CHECK (reason <> 'other' OR coalesce(btrim(details), '') <> '')
    );
    COMMENT ON TABLE public.reports IS
        'User reports of content or people; resolved by admins through moderate().';
    CREATE UNIQUE INDEX reports_one_open_per_reporter
        ON public.reports (reporter_id, target_type, target_id) WHERE status = 'open';
    CREATE INDEX idx_reports_open_target
        ON public.reports (target_type, target_id) WHERE status = 'open';
    CREATE INDEX idx_reports_reporter ON public.reports (reporter_id, created_at DESC, id DESC);
    CREATE INDEX idx_reports_target_user ON public.reports (target_user_id);
    CREATE INDEX idx_reports_resolved_by ON public.reports (resolved_by);

    -- Whether the caller can see a target, under the caller's own policies
    -- (SECURITY INVOKER): one may report only what one can see.
    CREATE FUNCTION public.report_target_visible(p_type report_target, p_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT CASE p_type
            WHEN 'post' THEN EXISTS (SELECT 1 FROM posts WHERE id = p_id)
            WHEN 'comment' THEN EXISTS (SELECT 1 FROM comments WHERE id = p_id)
            WHEN 'question' THEN EXISTS (SELECT 1 FROM questions WHERE id = p_id)
            WHEN 'answer' THEN EXISTS (SELECT 1 FROM answers WHERE id = p_id)
            WHEN 'ai_answer' THEN EXISTS (SELECT 1 FROM ai_answers WHERE id = p_id)
            WHEN 'chat_message' THEN EXISTS (SELECT 1 FROM chat_messages WHERE id = p_id
                                             AND deleted_at IS NULL AND message_type <> 'system')
            WHEN 'resource' THEN EXISTS (SELECT 1 FROM resources WHERE id = p_id)
            WHEN 'user' THEN EXISTS (SELECT 1 FROM users WHERE id = p_id)
        END
    $$;

    -- The target's author and what it said, as the owner (the reporter's
    -- visibility was checked by the policy).
    CREATE FUNCTION public.report_target_state(p_type report_target, p_id uuid,
                                               OUT owner_id uuid, OUT snapshot jsonb,
                                               OUT state text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        state := 'deleted';
        CASE p_type
        WHEN 'post' THEN
            SELECT t.author_id, jsonb_build_object('title', t.title, 'content', left(t.content, 4000)),
                   CASE WHEN t.hidden_at IS NULL THEN 'visible' ELSE 'hidden' END
            INTO owner_id, snapshot, state FROM posts t WHERE t.id = p_id;
        WHEN 'comment' THEN
            SELECT t.author_id, jsonb_build_object('content', left(t.content, 4000), 'post_id', t.post_id),
                   CASE WHEN t.hidden_at IS NULL THEN 'visible' ELSE 'hidden' END
            INTO owner_id, snapshot, state FROM comments t WHERE t.id = p_id;
        WHEN 'question' THEN
            SELECT t.author_id, jsonb_build_object('title', t.title, 'content', left(t.content, 4000)),
                   CASE WHEN t.hidden_at IS NULL THEN 'visible' ELSE 'hidden' END
            INTO owner_id, snapshot, state FROM questions t WHERE t.id = p_id;
        WHEN 'answer' THEN
            SELECT t.author_id,
                   jsonb_build_object('content', left(t.content, 4000), 'question_id', t.question_id),
                   CASE WHEN t.hidden_at IS NULL THEN 'visible' ELSE 'hidden' END
            INTO owner_id, snapshot, state FROM answers t WHERE t.id = p_id;
        WHEN 'ai_answer' THEN
            SELECT NULL::uuid,
                   jsonb_build_object('content', left(t.answer_text, 4000), 'question_id', t.question_id),
                   CASE WHEN t.hidden_at IS NULL THEN 'visible' ELSE 'hidden' END
            INTO owner_id, snapshot, state FROM ai_answers t WHERE t.id = p_id;
        WHEN 'chat_message' THEN
            SELECT t.sender_id, jsonb_build_object('content', left(t.content, 4000), 'room_id', t.room_id),
                   CASE WHEN t.deleted_at IS NULL THEN 'visible' ELSE 'deleted' END
            INTO owner_id, snapshot, state FROM chat_messages t WHERE t.id = p_id;
        WHEN 'resource' THEN
            SELECT t.author_id, jsonb_build_object('title', t.title, 'description', left(t.description, 4000),
                                                   'file_name', t.file_name),
                   CASE WHEN t.hidden_at IS NULL THEN 'visible' ELSE 'hidden' END
            INTO owner_id, snapshot, state FROM resources t WHERE t.id = p_id;
        WHEN 'user' THEN
            SELECT t.id, jsonb_build_object('username', t.username, 'full_name', t.full_name,
                                            'bio', left(t.bio, 4000)),
                   CASE WHEN NOT t.is_active THEN 'deactivated'
                        WHEN t.suspended_until > now() THEN 'suspended' ELSE 'visible' END
            INTO owner_id, snapshot, state FROM users t WHERE t.id = p_id;
        END CASE;
        state := coalesce(state, 'deleted');
    END
    $$;

    -- The queue's view of a target's state, for admins.
    CREATE FUNCTION public.admin_report_target_state(p_type report_target, p_id uuid) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        RETURN (SELECT s.state FROM public.report_target_state(p_type, p_id) s);
    END
    $$;

    CREATE FUNCTION public.reports_before_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        found record;
    BEGIN
        SELECT * INTO found FROM public.report_target_state(NEW.target_type, NEW.target_id);
        IF found.state = 'deleted' THEN
            RAISE EXCEPTION 'not_found: there is nothing to report here';
        END IF;
        IF found.owner_id IS NOT DISTINCT FROM NEW.reporter_id AND found.owner_id IS NOT NULL THEN
            RAISE EXCEPTION 'validation_error: you cannot report yourself or your own content';
        END IF;
        NEW.target_user_id := found.owner_id;
        NEW.snapshot := found.snapshot;
        NEW.status := 'open';
        NEW.created_at := now();
        NEW.resolved_at := NULL;
        NEW.resolved_by := NULL;
        NEW.resolution := NULL;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER reports_before_insert_trigger BEFORE INSERT ON public.reports
        FOR EACH ROW EXECUTE FUNCTION public.reports_before_insert();

    -- Hides the target (not chat messages or users) once its open reports
    -- reach the threshold, and tells its author it waits for review.
    CREATE FUNCTION public.reports_hide_at_threshold() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        open_reports integer;
        threshold integer;
        hidden integer := 0;
    BEGIN
        IF NEW.target_type IN ('chat_message', 'user') THEN
            RETURN NULL;
        END IF;
        threshold := public.hide_threshold();
        SELECT count(*) INTO open_reports FROM reports
        WHERE target_type = NEW.target_type AND target_id = NEW.target_id AND status = 'open';
        IF open_reports < threshold THEN
            RETURN NULL;
        END IF;
        CASE NEW.target_type
        WHEN 'post' THEN UPDATE posts SET hidden_at = now() WHERE id = NEW.target_id AND hidden_at IS NULL;
        WHEN 'comment' THEN UPDATE comments SET hidden_at = now() WHERE id = NEW.target_id AND hidden_at IS NULL;
        WHEN 'question' THEN UPDATE questions SET hidden_at = now() WHERE id = NEW.target_id AND hidden_at IS NULL;
        WHEN 'answer' THEN UPDATE answers SET hidden_at = now() WHERE id = NEW.target_id AND hidden_at IS NULL;
        WHEN 'ai_answer' THEN UPDATE ai_answers SET hidden_at = now() WHERE id = NEW.target_id AND hidden_at IS NULL;
        WHEN 'resource' THEN UPDATE resources SET hidden_at = now() WHERE id = NEW.target_id AND hidden_at IS NULL;
        END CASE;
        GET DIAGNOSTICS hidden = ROW_COUNT;
        IF hidden > 0 THEN
            INSERT INTO audit_log (action, target_type, target_id, details)
            VALUES ('moderation.auto_hide', NEW.target_type::text, NEW.target_id,
                    jsonb_build_object('open_reports', open_reports, 'threshold', threshold));
            IF NEW.target_user_id IS NOT NULL THEN
                PERFORM public.notify_system(
                    NEW.target_user_id, 'Your ' || replace(NEW.target_type::text, '_', ' ')
                        || ' is hidden while moderators review it',
                    'Several people reported it. Moderators will look at it soon; until then only '
                        || 'you and the moderators can see it.',
                    jsonb_build_object('kind', 'moderation', 'action', 'auto_hide',
                                       'subject_type', NEW.target_type, 'subject_id', NEW.target_id));
            END IF;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER reports_hide_at_threshold_trigger AFTER INSERT ON public.reports
        FOR EACH ROW EXECUTE FUNCTION public.reports_hide_at_threshold();

    ALTER TABLE public.reports ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.reports FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON public.reports TO authenticated;
    GRANT INSERT (target_type, target_id, reason, details) ON public.reports TO authenticated;
    GRANT SELECT ON public.reports TO service_role;
    CREATE POLICY "Reporters see their reports, admins all" ON public.reports
        FOR SELECT TO authenticated
        USING (reporter_id = (SELECT auth.uid()) OR (SELECT focushub_auth.is_admin()));
    CREATE POLICY "Signed-in users report what they can see" ON public.reports
        FOR INSERT TO authenticated
        WITH CHECK (reporter_id = (SELECT auth.uid())
                    AND public.report_target_visible(target_type, target_id));

    -- ------------------------------------------------------------ sessions
    {_with_suspension("start_session")}
    {_with_suspension("rotate_session")}
    {_with_suspension("session_is_active")}

    DROP FUNCTION focushub_auth.login_lookup(text);
    CREATE FUNCTION focushub_auth.login_lookup(p_email TEXT)
    RETURNS TABLE (user_id UUID, email TEXT, password_hash TEXT, is_active BOOLEAN,
                   app_role public.user_role, suspended_until TIMESTAMPTZ)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT u.id, u.email::text, c.password_hash, u.is_active, u.role,
               CASE WHEN u.suspended_until > now() THEN u.suspended_until END
        FROM public.users u JOIN focushub_auth.credentials c ON c.user_id = u.id
        WHERE lower(u.email) = lower(p_email)
    $$;
    REVOKE ALL ON FUNCTION focushub_auth.login_lookup(text) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION focushub_auth.login_lookup(text) TO anon, authenticated;

    -- ------------------------------------------------------------ actions
    CREATE FUNCTION public.admin_end_sessions(p_user_id uuid, p_reason text, p_request_id text)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        ended integer;
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_user_id) THEN
            RAISE EXCEPTION 'not_found: there is no user with this id';
        END IF;
        UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
        WHERE user_id = p_user_id AND revoked_at IS NULL;
        GET DIAGNOSTICS ended = ROW_COUNT;
        INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, details, request_id)
        VALUES (auth.uid(), 'user.end_sessions', 'user', p_user_id, p_reason,
                jsonb_build_object('tokens_revoked', ended), left(p_request_id, 64));
        RETURN ended;
    END
    $$;

    CREATE FUNCTION public.admin_set_hide_threshold(p_threshold integer, p_reason text,
                                                    p_request_id text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        before integer;
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        before := public.hide_threshold();
        INSERT INTO moderation_settings (hide_threshold) VALUES (p_threshold)
        ON CONFLICT (id) DO UPDATE SET hide_threshold = excluded.hide_threshold, updated_at = now();
        INSERT INTO audit_log (actor_id, action, target_type, reason, details, request_id)
        VALUES (auth.uid(), 'settings.hide_threshold', 'settings', p_reason,
                jsonb_build_object('hide_threshold', jsonb_build_array(before, p_threshold)),
                left(p_request_id, 64));
    END
    $$;

    CREATE FUNCTION public.audit_security_event(p_action text, p_target_id uuid, p_details jsonb,
                                                p_request_id text)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO audit_log (action, target_type, target_id, details, request_id)
        VALUES ('security.' || p_action, CASE WHEN p_target_id IS NOT NULL THEN 'user' END,
                p_target_id, coalesce(p_details, '{{}}'), left(p_request_id, 64));
    $$;

    -- Resolve every open report of a target with one action. See the module
    -- docstring for the actions; the author learns the reason, never the reporters.
    CREATE FUNCTION public.moderate(
        p_type report_target, p_id uuid, p_action text, p_reason text,
        p_suspend_until timestamptz, p_request_id text
    ) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        target record;
        owner uuid;
        label text := replace(p_type::text, '_', ' ');
        resolved integer;
        changed integer := 0;
        why text := nullif(btrim(coalesce(p_reason, '')), '');
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        IF p_action NOT IN ('dismiss', 'hide', 'delete', 'warn', 'suspend', 'deactivate') THEN
            RAISE EXCEPTION 'validation_error: unknown moderation action';
        END IF;
        IF p_action <> 'dismiss' AND why IS NULL THEN
            RAISE EXCEPTION 'validation_error: a reason is required; the author is shown it';
        END IF;
        SELECT * INTO target FROM public.report_target_state(p_type, p_id);
        owner := target.owner_id;
        IF owner IS NULL THEN
            -- Already deleted: the reports still name the author.
            SELECT r.target_user_id INTO owner FROM reports r
            WHERE r.target_type = p_type AND r.target_id = p_id AND r.target_user_id IS NOT NULL
            LIMIT 1;
        END IF;
        IF owner = auth.uid() THEN
            RAISE EXCEPTION 'conflict: administrators do not moderate themselves';
        END IF;

        IF p_action IN ('hide', 'delete', 'dismiss') AND p_type = 'user' AND p_action <> 'dismiss' THEN
            RAISE EXCEPTION 'validation_error: a person is warned, suspended or deactivated, not hidden or deleted';
        END IF;
        IF p_action IN ('warn', 'suspend', 'deactivate') AND owner IS NULL THEN
            RAISE EXCEPTION 'validation_error: this target has no author to act on';
        END IF;
        IF p_action = 'suspend' AND (p_suspend_until IS NULL OR p_suspend_until <= now()) THEN
            RAISE EXCEPTION 'validation_error: a suspension needs an end in the future';
        END IF;
        IF p_action IN ('hide', 'delete') AND target.state = 'deleted' THEN
            RAISE EXCEPTION 'conflict: this content no longer exists';
        END IF;

        IF p_action IN ('dismiss', 'hide') AND p_type NOT IN ('user', 'chat_message') THEN
            CASE p_type
            WHEN 'post' THEN UPDATE posts SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'comment' THEN UPDATE comments SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'question' THEN UPDATE questions SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'answer' THEN UPDATE answers SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'ai_answer' THEN UPDATE ai_answers SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'resource' THEN UPDATE resources SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            END CASE;
        ELSIF p_action = 'delete' OR (p_action = 'hide' AND p_type = 'chat_message') THEN
            -- A chat message is soft-deleted (0008, 0017 blank it in the event log too).
            CASE p_type
            WHEN 'post' THEN DELETE FROM posts WHERE id = p_id;
            WHEN 'comment' THEN DELETE FROM comments WHERE id = p_id;
            WHEN 'question' THEN DELETE FROM questions WHERE id = p_id;
            WHEN 'answer' THEN DELETE FROM answers WHERE id = p_id;
            WHEN 'ai_answer' THEN DELETE FROM ai_answers WHERE id = p_id;
            WHEN 'resource' THEN DELETE FROM resources WHERE id = p_id;
            WHEN 'chat_message' THEN
                UPDATE chat_messages SET content = '', file_url = NULL, deleted_at = now()
                WHERE id = p_id AND deleted_at IS NULL;
            END CASE;
        ELSIF p_action = 'suspend' THEN
            UPDATE users SET suspended_until = p_suspend_until WHERE id = owner;
            UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
            WHERE user_id = owner AND revoked_at IS NULL;
        ELSIF p_action = 'deactivate' THEN
            PERFORM public.admin_set_user_status(owner, NULL, false);
        END IF;

        UPDATE reports SET status = CASE WHEN p_action = 'dismiss' THEN 'dismissed'
                                         ELSE 'actioned' END::report_status,
                           resolved_at = now(), resolved_by = auth.uid(),
                           resolution = p_action || coalesce(': ' || why, '')
        WHERE target_type = p_type AND target_id = p_id AND status = 'open';
        GET DIAGNOSTICS resolved = ROW_COUNT;

        IF owner IS NOT NULL AND p_action <> 'dismiss' THEN
            PERFORM public.notify_system(owner,
                CASE p_action
                    WHEN 'hide' THEN 'A moderator hid your ' || label
                    WHEN 'delete' THEN 'A moderator removed your ' || label
                    WHEN 'warn' THEN 'A warning from the moderators'
                    WHEN 'suspend' THEN 'Your account is suspended until '
                        || to_char(p_suspend_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
                    ELSE 'Your account was deactivated' END,
                why,
                jsonb_build_object('kind', 'moderation', 'action', p_action,
                                   'subject_type', p_type, 'subject_id', p_id));
        END IF;

        INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, details, request_id)
        VALUES (auth.uid(), 'moderation.' || p_action, p_type::text, p_id, left(why, 1000),
                jsonb_strip_nulls(jsonb_build_object(
                    'reports_resolved', resolved, 'author_id', owner,
                    'suspended_until', p_suspend_until)),
                left(p_request_id, 64));
        RETURN jsonb_build_object('reports_resolved', resolved, 'author_id', owner,
                                  'state', (SELECT s.state FROM public.report_target_state(p_type, p_id) s));
    END
    $$;

    REVOKE ALL ON FUNCTION
        public.report_target_visible(report_target, uuid),
        public.hide_threshold(),
        public.report_target_state(report_target, uuid),
        public.admin_report_target_state(report_target, uuid),
        public.reports_before_insert(), public.reports_hide_at_threshold(),
        public.admin_end_sessions(uuid, text, text),
        public.admin_set_hide_threshold(integer, text, text),
        public.audit_security_event(text, uuid, jsonb, text),
        public.moderate(report_target, uuid, text, text, timestamptz, text)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.report_target_visible(report_target, uuid),
        public.hide_threshold() TO authenticated;
    GRANT EXECUTE ON FUNCTION
        public.admin_report_target_state(report_target, uuid),
        public.admin_end_sessions(uuid, text, text),
        public.admin_set_hide_threshold(integer, text, text),
        public.moderate(report_target, uuid, text, text, timestamptz, text)
        TO authenticated;
    GRANT EXECUTE ON FUNCTION public.audit_security_event(text, uuid, jsonb, text) TO service_role;
    """)


def downgrade() -> None:
    drops = "\n".join(
        f'DROP POLICY "{_hidden_policy_name(t, a)}" ON public.{t};'
        f" ALTER TABLE public.{t} DROP COLUMN hidden_at;" for t, a in _HIDEABLE)
    run_sql(f"""
    DROP FUNCTION public.moderate(report_target, uuid, text, text, timestamptz, text);
    DROP FUNCTION public.audit_security_event(text, uuid, jsonb, text);
    DROP FUNCTION public.admin_set_hide_threshold(integer, text, text);
    DROP FUNCTION public.admin_end_sessions(uuid, text, text);
    DROP TABLE public.reports;
    DROP FUNCTION public.reports_hide_at_threshold();
    DROP FUNCTION public.reports_before_insert();
    DROP FUNCTION public.admin_report_target_state(report_target, uuid);
    DROP FUNCTION public.report_target_state(report_target, uuid);
    DROP FUNCTION public.report_target_visible(report_target, uuid);
    DROP FUNCTION public.hide_threshold();
    DROP TABLE public.moderation_settings;
    DROP FUNCTION focushub_auth.login_lookup(text);
    {_LOGIN_LOOKUP_BEFORE}
    REVOKE ALL ON FUNCTION focushub_auth.login_lookup(text) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION focushub_auth.login_lookup(text) TO anon, authenticated;
    {_BEFORE["start_session"]}
    {_BEFORE["rotate_session"]}
    {_BEFORE["session_is_active"]}
    {drops}
    ALTER TABLE public.users DROP COLUMN suspended_until;
    DROP TYPE report_status;
    DROP TYPE report_reason;
    DROP TYPE report_target;
    """)
