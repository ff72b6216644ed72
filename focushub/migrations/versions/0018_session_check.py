"""Logout and deactivation take effect at once, not when the access token expires.

Revision ID: 0018_session_check
Revises: 0017_chat_privacy

An access token lived on for up to its 15 minutes after its session was ended
(logout, refresh-token reuse, password reset) or its account deactivated.
``public.session_is_active(session, user)`` answers whether the session (the
refresh-token family the token was issued with) still has a live token and the
account is active; it lives in ``public``, whose USAGE every role has, because the
server's login role calls it before the request's role takes effect; the API asks it in the statement that sets each request's
role and claims, so it costs no extra round trip, and refuses the request (401)
when it says no. It reveals only that boolean, for a session id that is a random
UUID, so every role may call it.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0018_session_check"
down_revision = "0017_chat_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION public.session_is_active(p_session uuid, p_user uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p_session IS NULL OR (
            EXISTS (SELECT 1 FROM focushub_auth.refresh_tokens t
                    WHERE t.family_id = p_session AND t.user_id = p_user AND t.revoked_at IS NULL)
            AND EXISTS (SELECT 1 FROM public.users u WHERE u.id = p_user AND u.is_active))
    $$;
    COMMENT ON FUNCTION public.session_is_active(uuid, uuid) IS
        'Whether a session (refresh-token family) of a user is live and the account active.';
    """)


def downgrade() -> None:
    run_sql("DROP FUNCTION public.session_is_active(uuid, uuid);")
