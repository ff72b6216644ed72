"""Supabase-compatible roles, the auth schema and the auth.uid()/role()/jwt() helpers,
and ``focushub_auth``, the schema of Focus Hub's own credentials.

Revision ID: 0001_supabase_roles
Revises:

Everything here is created only where it does not exist yet, so the same chain
applies to a plain PostgreSQL server (embedded or managed) and to a Supabase
project, where these roles, the schema and the functions already exist.

Objects this revision creates in the database are marked with a comment that
starts with ``focushub:0001``; the downgrade removes exactly the marked ones.
Roles are cluster-wide and may be used by other databases of the same server,
so the downgrade leaves them in place (they hold no privileges in this database
once the later revisions are rolled back).
"""

from focushub.migrations.sql import run_sql

revision = "0001_supabase_roles"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    -- Roles: NOLOGIN, reached only through SET ROLE by the server's login role
    -- (see focushub/core/bootstrap.py). service_role has BYPASSRLS, as on
    -- Supabase; it is used only by jobs and maintenance. Another migration run
    -- on the same server may be creating the same role concurrently, hence the
    -- exception handlers.
    DO $roles$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
            BEGIN
                CREATE ROLE anon NOLOGIN NOINHERIT;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
            BEGIN
                CREATE ROLE authenticated NOLOGIN NOINHERIT;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
            BEGIN
                CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END
    $roles$;

    -- The auth schema and its three claim readers. On Supabase they exist
    -- (owned by supabase_auth_admin) and are left untouched.
    DO $auth$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
            CREATE SCHEMA auth;
            COMMENT ON SCHEMA auth IS 'focushub:0001 claim helpers (Supabase-compatible)';
        END IF;

        -- The caller's user id. db.py publishes it both as request.jwt.claim.sub
        -- and inside request.jwt.claims; an empty string (anonymous caller)
        -- means NULL, never a cast error.
        IF to_regprocedure('auth.uid()') IS NULL THEN
            CREATE FUNCTION auth.uid() RETURNS uuid
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.sub', true), ''),
                    nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')
                )::uuid
            $fn$;
            COMMENT ON FUNCTION auth.uid() IS 'focushub:0001 id of the calling user, NULL when anonymous';
        END IF;

        IF to_regprocedure('auth.role()') IS NULL THEN
            CREATE FUNCTION auth.role() RETURNS text
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.role', true), ''),
                    nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '')
                )::text
            $fn$;
            COMMENT ON FUNCTION auth.role() IS 'focushub:0001 role claim of the caller';
        END IF;

        IF to_regprocedure('auth.jwt()') IS NULL THEN
            CREATE FUNCTION auth.jwt() RETURNS jsonb
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')
                )::jsonb
            $fn$;
            COMMENT ON FUNCTION auth.jwt() IS 'focushub:0001 all claims of the caller as jsonb';
        END IF;
    END
    $auth$;

    GRANT USAGE ON SCHEMA public, auth TO anon, authenticated, service_role;

    -- Focus Hub's credentials, sessions, one-time tokens and outgoing mail, and the
    -- functions that reach them (0003, 0004), live in a schema of their own: on
    -- Supabase, ``auth`` belongs to the platform's auth service, which has tables of
    -- the same names, and the migration role may not create objects in it.
    CREATE SCHEMA focushub_auth;
    COMMENT ON SCHEMA focushub_auth IS 'focushub:0001 credentials, sessions and outgoing mail';
    GRANT USAGE ON SCHEMA focushub_auth TO anon, authenticated, service_role;
    """)


def downgrade() -> None:
    run_sql("""
    DROP SCHEMA focushub_auth RESTRICT;
    DO $down$
    DECLARE
        fn text;
    BEGIN
        FOREACH fn IN ARRAY ARRAY['auth.uid()', 'auth.role()', 'auth.jwt()'] LOOP
            IF to_regprocedure(fn) IS NOT NULL
               AND coalesce(obj_description(to_regprocedure(fn), 'pg_proc'), '') LIKE 'focushub:0001%'
            THEN
                EXECUTE 'DROP FUNCTION ' || fn;
            END IF;
        END LOOP;

        -- Only when the auth schema is ours are we on a plain server where the
        -- schema grants were ours too; on Supabase they belong to the platform.
        IF coalesce(obj_description((SELECT oid FROM pg_namespace WHERE nspname = 'auth'),
                                    'pg_namespace'), '') LIKE 'focushub:0001%'
        THEN
            REVOKE USAGE ON SCHEMA public FROM anon, authenticated, service_role;
            -- RESTRICT: a later revision that left objects behind must fail
            -- loudly here instead of having them dropped silently.
            DROP SCHEMA auth RESTRICT;
        END IF;
    END
    $down$;
    """)
