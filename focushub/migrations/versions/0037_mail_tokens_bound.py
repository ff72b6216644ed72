"""A mailed token is bound to the address it was mailed to.

Revision ID: 0037_mail_tokens_bound
Revises: 0036_chat_message_insert_checks

A verification token used to confirm whatever address the account had when it was
presented: sign up with your own address, change the email to someone else's
(``change_email()``, 0028) and the token mailed at sign-up marked the other address
verified. A reset token likewise outlived a change of address.

* ``focushub_auth.one_time_tokens`` gains ``email`` (NOT NULL): the address the mail went
  to, written by ``issue_mail_token()``.
* ``consume_mail_token()`` spends a token only while the account's email is still that
  address, so ``verify_email()`` and ``reset_password()`` refuse (false) a token mailed to
  an earlier address; the token is left unspent.
* Tokens issued before this revision were bound to nothing: the outstanding ones are spent
  (``used_at``) here, and whoever still needs one asks for a new mail.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0037_mail_tokens_bound"
down_revision = "0036_chat_message_insert_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    ALTER TABLE focushub_auth.one_time_tokens ADD COLUMN email TEXT;
    UPDATE focushub_auth.one_time_tokens t SET email = u.email
    FROM public.users u WHERE u.id = t.user_id;
    UPDATE focushub_auth.one_time_tokens SET used_at = now()
    WHERE used_at IS NULL AND expires_at > now();
    ALTER TABLE focushub_auth.one_time_tokens ALTER COLUMN email SET NOT NULL;

    CREATE OR REPLACE FUNCTION focushub_auth.issue_mail_token(
        p_email TEXT, p_purpose TEXT, p_token_hash BYTEA, p_expires_at TIMESTAMPTZ,
        p_subject TEXT, p_body TEXT)
    RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        target public.users;
        outbox_id BIGINT;
    BEGIN
        SELECT * INTO target FROM public.users WHERE lower(email) = lower(p_email);
        IF NOT FOUND OR NOT target.is_active THEN
            RETURN NULL;
        END IF;
        IF p_purpose = 'verify_email' AND target.is_verified THEN
            RETURN NULL;
        END IF;
        -- The token holds the address its mail goes to (consume_mail_token checks it).
        INSERT INTO focushub_auth.one_time_tokens (token_hash, user_id, purpose, expires_at, email)
        VALUES (p_token_hash, target.id, p_purpose, p_expires_at, target.email);
        INSERT INTO focushub_auth.mail_outbox (to_email, subject, body) VALUES (target.email, p_subject, p_body)
            RETURNING id INTO outbox_id;
        RETURN outbox_id;
    END $$;

    -- Spend a token of the account whose email is still the address it was mailed to.
    CREATE OR REPLACE FUNCTION focushub_auth.consume_mail_token(p_token_hash BYTEA, p_purpose TEXT)
    RETURNS UUID
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        UPDATE focushub_auth.one_time_tokens t SET used_at = now()
        WHERE t.token_hash = p_token_hash AND t.purpose = p_purpose
          AND t.used_at IS NULL AND t.expires_at > now()
          AND EXISTS (SELECT 1 FROM public.users u
                      WHERE u.id = t.user_id AND lower(u.email) = lower(t.email))
        RETURNING t.user_id
    $$;
    """)


def downgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION focushub_auth.consume_mail_token(p_token_hash BYTEA, p_purpose TEXT)
    RETURNS UUID
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        UPDATE focushub_auth.one_time_tokens SET used_at = now()
        WHERE token_hash = p_token_hash AND purpose = p_purpose
          AND used_at IS NULL AND expires_at > now()
        RETURNING user_id
    $$;

    CREATE OR REPLACE FUNCTION focushub_auth.issue_mail_token(
        p_email TEXT, p_purpose TEXT, p_token_hash BYTEA, p_expires_at TIMESTAMPTZ,
        p_subject TEXT, p_body TEXT)
    RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        target public.users;
        outbox_id BIGINT;
    BEGIN
        SELECT * INTO target FROM public.users WHERE lower(email) = lower(p_email);
        IF NOT FOUND OR NOT target.is_active THEN
            RETURN NULL;
        END IF;
        IF p_purpose = 'verify_email' AND target.is_verified THEN
            RETURN NULL;
        END IF;
        INSERT INTO focushub_auth.one_time_tokens (token_hash, user_id, purpose, expires_at)
        VALUES (p_token_hash, target.id, p_purpose, p_expires_at);
        INSERT INTO focushub_auth.mail_outbox (to_email, subject, body) VALUES (target.email, p_subject, p_body)
            RETURNING id INTO outbox_id;
        RETURN outbox_id;
    END $$;

    ALTER TABLE focushub_auth.one_time_tokens DROP COLUMN email;
    """)
