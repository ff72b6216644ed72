"""The admin area's database side: an append-only audit log, user management, right totals.

Revision ID: 0019_admin
Revises: 0018_session_check

* ``audit_log``: who did what to whom, when, why, under which request id. Admins
  read it; no request role can insert, change or delete a row (no privilege, and
  a trigger refuses UPDATE and DELETE even for the owner's other roles), so only
  the SECURITY DEFINER functions below write it.
* ``admin_update_user(user, role, active, reason, request_id)``: the role and
  status change of ``admin_set_user_status`` (0003), logged. Deactivation ends the
  user's sessions at once (0018 checks every request).
* ``admin_list_users(query, after_created, after_id, limit)``: accounts with their
  email and last login, which the users policies show nobody but the account itself.
* ``admin_stats()``: totals over everything (a direct count as an admin would
  only see what RLS shows them): users by role, active users in the last 1, 7
  and 30 days, posts, questions and the share answered, messages, storage used,
  open reports later.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0019_admin"
down_revision = "0018_session_check"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE public.audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor_id uuid REFERENCES public.users(id) ON DELETE SET NULL,
        action text NOT NULL,
        target_type text,
        target_id uuid,
        reason text CONSTRAINT audit_log_reason_length CHECK (char_length(reason) <= 1000),
        details jsonb NOT NULL DEFAULT '{}',
        request_id text CONSTRAINT audit_log_request_id_length CHECK (char_length(request_id) <= 64)
    );
    COMMENT ON TABLE public.audit_log IS 'Append-only: admin actions and security events.';
    CREATE INDEX idx_audit_log_at ON public.audit_log (at DESC, id DESC);
    CREATE INDEX idx_audit_log_target ON public.audit_log (target_id, at DESC);
    ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.audit_log FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON public.audit_log TO authenticated;
    GRANT SELECT, INSERT ON public.audit_log TO service_role;
    CREATE POLICY "Admins can read the audit log" ON public.audit_log
        FOR SELECT TO authenticated USING (focushub_auth.is_admin());

    CREATE FUNCTION public.audit_log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        RAISE EXCEPTION 'forbidden: the audit log is append-only';
    END
    $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON public.audit_log
        FOR EACH ROW EXECUTE FUNCTION public.audit_log_is_append_only();

    CREATE FUNCTION public.admin_update_user(
        p_user_id uuid, p_role user_role, p_is_active boolean, p_reason text, p_request_id text
    ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        before users;
    BEGIN
        SELECT * INTO before FROM users WHERE id = p_user_id;
        PERFORM public.admin_set_user_status(p_user_id, p_role, p_is_active);
        INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, details, request_id)
        VALUES (auth.uid(), 'user.update', 'user', p_user_id, p_reason,
                jsonb_strip_nulls(jsonb_build_object(
                    'role', CASE WHEN p_role IS DISTINCT FROM before.role
                                 AND p_role IS NOT NULL THEN jsonb_build_array(before.role, p_role) END,
                    'is_active', CASE WHEN p_is_active IS DISTINCT FROM before.is_active
                                      AND p_is_active IS NOT NULL
                                      THEN jsonb_build_array(before.is_active, p_is_active) END)),
                left(p_request_id, 64));
    END
    $$;

    CREATE FUNCTION public.admin_list_users(
        p_query text, p_after_created timestamptz, p_after_id uuid, p_limit integer
    ) RETURNS TABLE (id uuid, email text, username text, full_name text, role user_role,
                     is_active boolean, is_verified boolean, created_at timestamptz,
                     last_login timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        RETURN QUERY
        SELECT u.id, u.email::text, u.username::text, u.full_name::text, u.role, u.is_active,
               u.is_verified, u.created_at, u.last_login
        FROM users u
        WHERE (p_query IS NULL OR u.username ILIKE '%' || p_query || '%'
               OR u.email ILIKE '%' || p_query || '%' OR u.full_name ILIKE '%' || p_query || '%')
          AND (p_after_created IS NULL OR (u.created_at, u.id) < (p_after_created, p_after_id))
        ORDER BY u.created_at DESC, u.id DESC
        LIMIT least(p_limit, 100);
    END
    $$;

    CREATE FUNCTION public.admin_stats() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        result jsonb;
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        SELECT jsonb_build_object(
            'users_by_role', (SELECT coalesce(jsonb_object_agg(role, n), '{}') FROM
                                (SELECT role::text, count(*) AS n FROM users GROUP BY role) r),
            'users', (SELECT count(*) FROM users),
            'inactive_users', (SELECT count(*) FROM users WHERE NOT is_active),
            'active_1d', (SELECT count(*) FROM users WHERE last_login > now() - interval '1 day'),
            'active_7d', (SELECT count(*) FROM users WHERE last_login > now() - interval '7 days'),
            'active_30d', (SELECT count(*) FROM users WHERE last_login > now() - interval '30 days'),
            'new_users_30d', (SELECT count(*) FROM users WHERE created_at > now() - interval '30 days'),
            'posts', (SELECT count(*) FROM posts),
            'questions', (SELECT count(*) FROM questions),
            'questions_answered', (SELECT count(*) FROM questions WHERE answers_count > 0),
            'answers', (SELECT count(*) FROM answers),
            'messages', (SELECT count(*) FROM chat_messages WHERE message_type <> 'system'),
            'resources', (SELECT count(*) FROM resources),
            'storage_bytes', (SELECT coalesce(sum(size), 0) FROM stored_files),
            'ai_answers', (SELECT count(*) FROM ai_answers WHERE status <> 'pending')
        ) INTO result;
        RETURN result;
    END
    $$;

    REVOKE ALL ON FUNCTION public.audit_log_is_append_only(),
        public.admin_update_user(uuid, user_role, boolean, text, text),
        public.admin_list_users(text, timestamptz, uuid, integer), public.admin_stats()
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.admin_update_user(uuid, user_role, boolean, text, text),
        public.admin_list_users(text, timestamptz, uuid, integer), public.admin_stats()
        TO authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION public.admin_stats();
    DROP FUNCTION public.admin_list_users(text, timestamptz, uuid, integer);
    DROP FUNCTION public.admin_update_user(uuid, user_role, boolean, text, text);
    DROP TABLE public.audit_log;
    DROP FUNCTION public.audit_log_is_append_only();
    """)
