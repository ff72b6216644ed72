"""Credentials, sessions, one-time tokens and the mail outbox, in the focushub_auth schema.

Revision ID: 0004_auth_credentials
Revises: 0003_seed_fixes

Nothing here is granted as a table to any API role. The API reaches these tables
only through the SECURITY DEFINER functions below, each doing one narrow thing,
so that no request role can read a password hash list, enumerate tokens or
write someone else's session. The API process holds the JWT secret and verifies
passwords (argon2id in Python); the functions trust it for that, as PostgREST
trusts GoTrue.
"""

from focushub.migrations.sql import run_sql

revision = "0004_auth_credentials"
down_revision = "0003_seed_fixes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE focushub_auth.credentials (
        user_id UUID PRIMARY KEY REFERENCES public.users(id) ON DELETE CASCADE,
        password_hash TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );

    -- One row per refresh token. A login starts a family; each refresh spends its
    -- token and adds the next one to the family. Presenting a spent token again
    -- means it was stolen (or replayed): the whole family is revoked.
    CREATE TABLE focushub_auth.refresh_tokens (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id UUID NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        family_id UUID NOT NULL,
        token_hash BYTEA NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL,
        spent_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
    );
    CREATE INDEX refresh_tokens_family_idx ON focushub_auth.refresh_tokens (family_id);
    CREATE INDEX refresh_tokens_user_idx ON focushub_auth.refresh_tokens (user_id);

    CREATE TABLE focushub_auth.one_time_tokens (
        token_hash BYTEA PRIMARY KEY,
        user_id UUID NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL,
        used_at TIMESTAMPTZ
    );
    CREATE INDEX one_time_tokens_user_idx ON focushub_auth.one_time_tokens (user_id, purpose);

    -- Mail waits here until it is delivered (SMTP) or, without SMTP, read from the log.
    CREATE TABLE focushub_auth.mail_outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        to_email TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        sent_at TIMESTAMPTZ,
        last_error TEXT
    );
    CREATE INDEX mail_outbox_unsent_idx ON focushub_auth.mail_outbox (id) WHERE sent_at IS NULL;

    REVOKE ALL ON focushub_auth.credentials, focushub_auth.refresh_tokens, focushub_auth.one_time_tokens, focushub_auth.mail_outbox
        FROM PUBLIC, anon, authenticated;
    GRANT SELECT, UPDATE ON focushub_auth.mail_outbox TO service_role;

    -- Create the profile and its credentials together. Emails are stored lower-case.
    CREATE FUNCTION focushub_auth.sign_up(p_email TEXT, p_password_hash TEXT, p_full_name TEXT, p_username TEXT)
    RETURNS public.users
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        created public.users;
    BEGIN
        INSERT INTO public.users (email, full_name, username)
        VALUES (lower(p_email), p_full_name, p_username)
        RETURNING * INTO created;
        INSERT INTO focushub_auth.credentials (user_id, password_hash) VALUES (created.id, p_password_hash);
        RETURN created;
    END $$;

    CREATE FUNCTION focushub_auth.login_lookup(p_email TEXT)
    RETURNS TABLE (user_id UUID, email TEXT, password_hash TEXT, is_active BOOLEAN, app_role public.user_role)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT u.id, u.email::text, c.password_hash, u.is_active, u.role
        FROM public.users u JOIN focushub_auth.credentials c ON c.user_id = u.id
        WHERE lower(u.email) = lower(p_email)
    $$;

    -- Start a session family after a successful password check.
    CREATE FUNCTION focushub_auth.start_session(p_user_id UUID, p_token_hash BYTEA, p_expires_at TIMESTAMPTZ)
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

    -- Spend a refresh token and issue its successor. Returns a status instead of
    -- raising so that a reuse can revoke the family and still commit.
    -- status: ok | invalid | expired | reused | inactive
    CREATE FUNCTION focushub_auth.rotate_session(p_token_hash BYTEA, p_new_hash BYTEA, p_expires_at TIMESTAMPTZ)
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

    -- Logout: revoke the family the presented refresh token belongs to.
    CREATE FUNCTION focushub_auth.end_session(p_token_hash BYTEA)
    RETURNS BOOLEAN
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH fam AS (SELECT family_id FROM focushub_auth.refresh_tokens WHERE token_hash = p_token_hash)
        UPDATE focushub_auth.refresh_tokens t SET revoked_at = now()
        FROM fam WHERE t.family_id = fam.family_id AND t.revoked_at IS NULL
        RETURNING true
    $$;

    -- Store a one-time token for the account with this email and queue the mail
    -- that carries it. Returns false (and stores nothing) for an unknown email, so
    -- the caller can answer the same either way.
    CREATE FUNCTION focushub_auth.issue_mail_token(
        p_email TEXT, p_purpose TEXT, p_token_hash BYTEA, p_expires_at TIMESTAMPTZ,
        p_subject TEXT, p_body TEXT)
    RETURNS BOOLEAN
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        target public.users;
    BEGIN
        SELECT * INTO target FROM public.users WHERE lower(email) = lower(p_email);
        IF NOT FOUND OR NOT target.is_active THEN
            RETURN false;
        END IF;
        IF p_purpose = 'verify_email' AND target.is_verified THEN
            RETURN false;
        END IF;
        INSERT INTO focushub_auth.one_time_tokens (token_hash, user_id, purpose, expires_at)
        VALUES (p_token_hash, target.id, p_purpose, p_expires_at);
        INSERT INTO focushub_auth.mail_outbox (to_email, subject, body) VALUES (target.email, p_subject, p_body);
        RETURN true;
    END $$;

    CREATE FUNCTION focushub_auth.consume_mail_token(p_token_hash BYTEA, p_purpose TEXT)
    RETURNS UUID
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        UPDATE focushub_auth.one_time_tokens SET used_at = now()
        WHERE token_hash = p_token_hash AND purpose = p_purpose
          AND used_at IS NULL AND expires_at > now()
        RETURNING user_id
    $$;

    CREATE FUNCTION focushub_auth.verify_email(p_token_hash BYTEA)
    RETURNS BOOLEAN
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        target UUID := focushub_auth.consume_mail_token(p_token_hash, 'verify_email');
    BEGIN
        IF target IS NULL THEN
            RETURN false;
        END IF;
        UPDATE public.users SET is_verified = true WHERE id = target;
        RETURN true;
    END $$;

    -- Set a new password with a reset token; every session of the account ends.
    CREATE FUNCTION focushub_auth.reset_password(p_token_hash BYTEA, p_password_hash TEXT)
    RETURNS BOOLEAN
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        target UUID := focushub_auth.consume_mail_token(p_token_hash, 'password_reset');
    BEGIN
        IF target IS NULL THEN
            RETURN false;
        END IF;
        UPDATE focushub_auth.credentials SET password_hash = p_password_hash, updated_at = now()
        WHERE user_id = target;
        UPDATE focushub_auth.refresh_tokens SET revoked_at = now() WHERE user_id = target AND revoked_at IS NULL;
        UPDATE focushub_auth.one_time_tokens SET used_at = now()
        WHERE user_id = target AND purpose = 'password_reset' AND used_at IS NULL;
        RETURN true;
    END $$;

    -- Maintenance: create an admin or promote an existing account (CLI only).
    CREATE FUNCTION focushub_auth.ensure_admin(p_email TEXT, p_username TEXT, p_full_name TEXT, p_password_hash TEXT)
    RETURNS public.users
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        target public.users;
    BEGIN
        SELECT * INTO target FROM public.users WHERE lower(email) = lower(p_email);
        IF NOT FOUND THEN
            target := focushub_auth.sign_up(p_email, p_password_hash, p_full_name, p_username);
        END IF;
        UPDATE public.users SET role = 'admin', is_active = true, is_verified = true
        WHERE id = target.id RETURNING * INTO target;
        RETURN target;
    END $$;

    REVOKE ALL ON FUNCTION focushub_auth.sign_up(TEXT, TEXT, TEXT, TEXT),
        focushub_auth.login_lookup(TEXT), focushub_auth.start_session(UUID, BYTEA, TIMESTAMPTZ),
        focushub_auth.rotate_session(BYTEA, BYTEA, TIMESTAMPTZ), focushub_auth.end_session(BYTEA),
        focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT),
        focushub_auth.consume_mail_token(BYTEA, TEXT), focushub_auth.verify_email(BYTEA),
        focushub_auth.reset_password(BYTEA, TEXT), focushub_auth.ensure_admin(TEXT, TEXT, TEXT, TEXT)
        FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION focushub_auth.sign_up(TEXT, TEXT, TEXT, TEXT),
        focushub_auth.login_lookup(TEXT), focushub_auth.start_session(UUID, BYTEA, TIMESTAMPTZ),
        focushub_auth.rotate_session(BYTEA, BYTEA, TIMESTAMPTZ), focushub_auth.end_session(BYTEA),
        focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT),
        focushub_auth.verify_email(BYTEA), focushub_auth.reset_password(BYTEA, TEXT)
        TO anon, authenticated;
    GRANT EXECUTE ON FUNCTION focushub_auth.ensure_admin(TEXT, TEXT, TEXT, TEXT) TO service_role;

    -- Readiness probe: the server's login role may learn the schema revision, nothing more.
    CREATE FUNCTION public.schema_revision()
    RETURNS TEXT
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT version_num FROM public.alembic_version LIMIT 1
    $$;
    GRANT EXECUTE ON FUNCTION public.schema_revision() TO PUBLIC;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION public.schema_revision();
    DROP FUNCTION focushub_auth.ensure_admin(TEXT, TEXT, TEXT, TEXT);
    DROP FUNCTION focushub_auth.reset_password(BYTEA, TEXT);
    DROP FUNCTION focushub_auth.verify_email(BYTEA);
    DROP FUNCTION focushub_auth.consume_mail_token(BYTEA, TEXT);
    DROP FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT);
    DROP FUNCTION focushub_auth.end_session(BYTEA);
    DROP FUNCTION focushub_auth.rotate_session(BYTEA, BYTEA, TIMESTAMPTZ);
    DROP FUNCTION focushub_auth.start_session(UUID, BYTEA, TIMESTAMPTZ);
    DROP FUNCTION focushub_auth.login_lookup(TEXT);
    DROP FUNCTION focushub_auth.sign_up(TEXT, TEXT, TEXT, TEXT);
    DROP TABLE focushub_auth.mail_outbox;
    DROP TABLE focushub_auth.one_time_tokens;
    DROP TABLE focushub_auth.refresh_tokens;
    DROP TABLE focushub_auth.credentials;
    """)
