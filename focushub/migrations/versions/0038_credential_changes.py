"""Changing the password or the email revokes the mailed tokens still outstanding.

Revision ID: 0038_credential_changes
Revises: 0037_mail_tokens_bound

A reset token mailed before a change of password (or of email) went on working after it:
whoever had read the mail could still take the account over. Now

* ``change_password()`` spends (``used_at``) every outstanding ``password_reset`` token
  of the caller, as ``reset_password()`` (0004) already did for the other reset tokens;
* ``change_email()``, when the address really changes, spends every outstanding token of
  the caller (verification and reset), before it changes the address: a token being
  spent at the same time by ``consume_mail_token()`` holds the token's row, so either the
  token was spent first or it is revoked, never spent after the change. Together with
  0037 a token mailed to the old address is dead even if the account changes back to it.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0038_credential_changes"
down_revision = "0037_mail_tokens_bound"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.change_password(p_password_hash text, p_keep_family uuid)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to change your password';
        END IF;
        UPDATE focushub_auth.credentials SET password_hash = p_password_hash, updated_at = now()
        WHERE user_id = auth.uid();
        UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
        WHERE user_id = auth.uid() AND revoked_at IS NULL
          AND family_id IS DISTINCT FROM p_keep_family;
        -- A reset mailed before the change must not undo it.
        UPDATE focushub_auth.one_time_tokens SET used_at = now()
        WHERE user_id = auth.uid() AND purpose = 'password_reset' AND used_at IS NULL;
    END
    $$;

    CREATE OR REPLACE FUNCTION public.change_email(p_email text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to change your email';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM users WHERE id = auth.uid() AND lower(email) <> lower(p_email)) THEN
            RETURN;
        END IF;
        -- Every token mailed to the old address goes first (its rows' locks order this
        -- against a token being spent now).
        UPDATE focushub_auth.one_time_tokens SET used_at = now()
        WHERE user_id = auth.uid() AND used_at IS NULL;
        UPDATE users SET email = lower(p_email), is_verified = false
        WHERE id = auth.uid() AND lower(email) <> lower(p_email);
    END
    $$;
    """)


def downgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.change_password(p_password_hash text, p_keep_family uuid)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to change your password';
        END IF;
        UPDATE focushub_auth.credentials SET password_hash = p_password_hash, updated_at = now()
        WHERE user_id = auth.uid();
        UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
        WHERE user_id = auth.uid() AND revoked_at IS NULL
          AND family_id IS DISTINCT FROM p_keep_family;
    END
    $$;

    CREATE OR REPLACE FUNCTION public.change_email(p_email text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to change your email';
        END IF;
        UPDATE users SET email = lower(p_email), is_verified = false
        WHERE id = auth.uid() AND lower(email) <> lower(p_email);
    END
    $$;
    """)
