"""The database says when a session may have ended, so that open sockets learn it at once.

Revision ID: 0050_session_end_notices
Revises: 0049_chat_key_reuse

A WebSocket outlives its requests: the gateway checked its session again at most every 15 s,
before it gave the socket an event. A socket whose session ended (logout, an administrator
ending it, a password change, the account deactivated, suspended or deleted) heard the
rooms for up to 15 s more, and every busy socket paid a transaction each 15 s to learn that
nothing had changed (about 130 a second at 2,000 busy sockets).

Now the writes that can end a session say so on the channel ``focushub_sessions``
(delivered at their commit, like the notifications of 0008), with the user and, when one
session ended, its id:

* ``refresh_tokens`` (``AFTER UPDATE``, once per statement, with its rows before and after:
  a trigger with transition tables takes no column list): each user and session a
  statement revoked tokens of (a session is its token family; rotating a token marks it
  spent, not revoked, so a rotation says nothing);
* ``users`` (``AFTER UPDATE OF is_active, suspended_until``, a row that became inactive or
  suspended; and ``AFTER DELETE``): the user, every session.

A notice says "check again", not "closed": the gateway's sockets of that user (and session)
check their session at once and close with 4001 if it ended, so a notice about a session
that still holds costs one check. The periodic check stays as a backstop for a notice missed
while the event bus reconnected.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0050_session_end_notices"
down_revision = "0049_chat_key_reuse"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION focushub_auth.notify_sessions_revoked() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        PERFORM pg_notify('focushub_sessions', jsonb_build_object(
                    'user_id', e.user_id, 'session_id', e.family_id)::text)
        FROM (SELECT DISTINCT n.user_id, n.family_id
              FROM revoked_now n LEFT JOIN revoked_before b ON b.id = n.id
              WHERE n.revoked_at IS NOT NULL AND b.revoked_at IS NULL) e;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_sessions_revoked_trigger
        AFTER UPDATE ON focushub_auth.refresh_tokens
        REFERENCING OLD TABLE AS revoked_before NEW TABLE AS revoked_now
        FOR EACH STATEMENT EXECUTE FUNCTION focushub_auth.notify_sessions_revoked();

    CREATE FUNCTION public.notify_user_sessions() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        PERFORM pg_notify('focushub_sessions',
                          jsonb_build_object('user_id', OLD.id, 'session_id', NULL)::text);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_user_sessions_trigger
        AFTER UPDATE OF is_active, suspended_until ON public.users
        FOR EACH ROW
        WHEN ((OLD.is_active AND NOT NEW.is_active)
              OR (NEW.suspended_until IS DISTINCT FROM OLD.suspended_until
                  AND NEW.suspended_until > now()))
        EXECUTE FUNCTION public.notify_user_sessions();
    CREATE TRIGGER notify_deleted_user_sessions_trigger
        AFTER DELETE ON public.users
        FOR EACH ROW EXECUTE FUNCTION public.notify_user_sessions();
    REVOKE ALL ON FUNCTION focushub_auth.notify_sessions_revoked()
        FROM PUBLIC, anon, authenticated, service_role;
    REVOKE ALL ON FUNCTION public.notify_user_sessions()
        FROM PUBLIC, anon, authenticated, service_role;
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER notify_deleted_user_sessions_trigger ON public.users;
    DROP TRIGGER notify_user_sessions_trigger ON public.users;
    DROP FUNCTION public.notify_user_sessions();
    DROP TRIGGER notify_sessions_revoked_trigger ON focushub_auth.refresh_tokens;
    DROP FUNCTION focushub_auth.notify_sessions_revoked();
    """)
