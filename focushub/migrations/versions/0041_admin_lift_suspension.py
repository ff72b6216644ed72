"""An admin lifts a suspension by reactivating the account, and sees it in the user list.

Revision ID: 0041_admin_lift_suspension
Revises: 0040_moderated_attachments

A suspension (``moderate(..., 'suspend', ...)``, 0021) could not be ended early:
``PATCH /admin/users/{id} {"is_active": true}`` answered 204 and changed nothing, and
the admin user list did not show ``suspended_until`` at all.

* ``admin_update_user()`` with ``p_is_active`` true also clears ``users.suspended_until``;
  the audit entry's details gain ``suspended_until: [until, null]`` when a suspension in
  effect was lifted.
* ``admin_list_users()`` returns ``suspended_until`` too (NULL unless it is in the
  future, as ``focushub_auth.login_lookup()`` reads it). A changed result type needs the
  function dropped and created again, with its grants.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0041_admin_lift_suspension"
down_revision = "0040_moderated_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.admin_update_user(
        p_user_id uuid, p_role user_role, p_is_active boolean, p_reason text, p_request_id text
    ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        before users;
    BEGIN
        SELECT * INTO before FROM users WHERE id = p_user_id;
        PERFORM public.admin_set_user_status(p_user_id, p_role, p_is_active);
        -- Reactivating lifts a suspension (moderate(), 0021): the one way to end it early.
        IF p_is_active THEN
            UPDATE users SET suspended_until = NULL
            WHERE id = p_user_id AND suspended_until IS NOT NULL;
        END IF;
        INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, details, request_id)
        VALUES (auth.uid(), 'user.update', 'user', p_user_id, p_reason,
                jsonb_strip_nulls(jsonb_build_object(
                    'role', CASE WHEN p_role IS DISTINCT FROM before.role
                                 AND p_role IS NOT NULL THEN jsonb_build_array(before.role, p_role) END,
                    'is_active', CASE WHEN p_is_active IS DISTINCT FROM before.is_active
                                      AND p_is_active IS NOT NULL
                                      THEN jsonb_build_array(before.is_active, p_is_active) END,
                    'suspended_until', CASE WHEN p_is_active AND before.suspended_until > now()
                                            THEN jsonb_build_array(before.suspended_until, NULL) END)),
                left(p_request_id, 64));
    END
    $$;

    DROP FUNCTION public.admin_list_users(text, timestamptz, uuid, integer);
    CREATE FUNCTION public.admin_list_users(
        p_query text, p_after_created timestamptz, p_after_id uuid, p_limit integer
    ) RETURNS TABLE (id uuid, email text, username text, full_name text, role user_role,
                     is_active boolean, is_verified boolean, created_at timestamptz,
                     last_login timestamptz, suspended_until timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        RETURN QUERY
        SELECT u.id, u.email::text, u.username::text, u.full_name::text, u.role, u.is_active,
               u.is_verified, u.created_at, u.last_login,
               CASE WHEN u.suspended_until > now() THEN u.suspended_until END
        FROM users u
        WHERE (p_query IS NULL OR u.username ILIKE '%' || p_query || '%'
               OR u.email ILIKE '%' || p_query || '%' OR u.full_name ILIKE '%' || p_query || '%')
          AND (p_after_created IS NULL OR (u.created_at, u.id) < (p_after_created, p_after_id))
        ORDER BY u.created_at DESC, u.id DESC
        LIMIT least(p_limit, 100);
    END
    $$;

    REVOKE ALL ON FUNCTION public.admin_list_users(text, timestamptz, uuid, integer)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.admin_list_users(text, timestamptz, uuid, integer)
        TO authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.admin_update_user(
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

    DROP FUNCTION public.admin_list_users(text, timestamptz, uuid, integer);
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

    REVOKE ALL ON FUNCTION public.admin_list_users(text, timestamptz, uuid, integer)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.admin_list_users(text, timestamptz, uuid, integer)
        TO authenticated;
    """)
