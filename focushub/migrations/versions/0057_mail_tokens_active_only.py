"""A mailed link does nothing for a deactivated account.

Revision ID: 0057_mail_tokens_active_only
Revises: 0056_search_sees_moderation

``consume_mail_token()`` (used by ``reset_password()`` and ``verify_email()``) accepted a
token issued before the account was deactivated: a reset link mailed before an
administrator deactivated the account still set its password, and would have let whoever
held the link into the account once it was reactivated (an hour's window, the link's life).
It now also requires the account to be active, and deactivating an account expires the
links mailed to it before (``expire_mail_tokens_trigger``, AFTER UPDATE OF ``is_active`` on
``users``), so that reactivating it does not bring them back. Such a link answers as any
unusable link does.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0057_mail_tokens_active_only"
down_revision = "0056_search_sees_moderation"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION focushub_auth.consume_mail_token(p_token_hash bytea, p_purpose text)
    RETURNS uuid
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE focushub_auth.one_time_tokens t SET used_at = now()
        WHERE t.token_hash = p_token_hash AND t.purpose = p_purpose
          AND t.used_at IS NULL AND t.expires_at > now()
          AND EXISTS (SELECT 1 FROM public.users u
                      WHERE u.id = t.user_id AND lower(u.email) = lower(t.email){active})
        RETURNING t.user_id
    $function$;
"""


def upgrade() -> None:
    run_sql(FUNCTION.format(active="\n                        AND u.is_active"))
    run_sql("""
    CREATE FUNCTION focushub_auth.expire_mail_tokens() RETURNS trigger
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = public, pg_temp
    AS $function$
        BEGIN
            UPDATE focushub_auth.one_time_tokens SET expires_at = now()
            WHERE user_id = NEW.id AND used_at IS NULL AND expires_at > now();
            RETURN NULL;
        END
    $function$;
    REVOKE ALL ON FUNCTION focushub_auth.expire_mail_tokens()
        FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER expire_mail_tokens_trigger AFTER UPDATE OF is_active ON public.users
        FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
        EXECUTE FUNCTION focushub_auth.expire_mail_tokens();
    """)


def downgrade() -> None:
    run_sql("""
    DROP TRIGGER expire_mail_tokens_trigger ON public.users;
    DROP FUNCTION focushub_auth.expire_mail_tokens();
    """)
    run_sql(FUNCTION.format(active=""))
