-- A database in the state a Supabase project's database is in when its owner first runs
-- migrations: the roles and their attributes, an `auth` schema that belongs to the auth
-- service (with its own users, refresh_tokens, one_time_tokens, sessions, identities and
-- uid()/role()/email()/jwt()), and the default privileges that hand every new table,
-- sequence and function in `public` to the API roles.
--
-- Run as a superuser, inside the fresh database, once (deploy/supabase/check.py does).
-- Written from Supabase's published init scripts and migrations (supabase/postgres
-- migrations/db, supabase/auth migrations), reduced to what decides whether Focus Hub's
-- migrations apply; docs/supabase.md lists what is reproduced and what is not.
--
-- Roles are cluster-wide and may be shared with other databases on the server: each is
-- created only if missing and an existing role is never altered. Stand-ins:
--   supa_postgres       plays Supabase's `postgres` (the role a project's migrations log in
--                       as): NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS.
--                       The real name is taken here by the server's own superuser.
--   supa_authenticator  plays Supabase's `authenticator` (PostgREST's login role):
--                       LOGIN NOINHERIT, member of anon, authenticated and service_role.
-- supabase_auth_admin keeps its real name (the auth service's role, owner of `auth`).

-- ------------------------------------------------------------------------------- roles
DO $roles$
DECLARE
    spec text[];
BEGIN
    FOREACH spec SLICE 1 IN ARRAY ARRAY[
        ['anon', 'NOLOGIN NOINHERIT'],
        ['authenticated', 'NOLOGIN NOINHERIT'],
        ['service_role', 'NOLOGIN NOINHERIT BYPASSRLS'],
        ['supabase_auth_admin', 'LOGIN NOINHERIT NOCREATEROLE NOREPLICATION'],
        ['supa_postgres', 'LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS'],
        ['supa_authenticator', 'LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS']
    ] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = spec[1]) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', spec[1], spec[2]);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;

-- PostgREST logs in as authenticator and switches to the role named in the JWT.
GRANT anon, authenticated, service_role TO supa_authenticator;

-- ------------------------------------------------------------ database and public schema
-- The project's database belongs to the platform's superuser; `postgres` has every
-- database privilege (CONNECT, TEMP, CREATE: it may create schemas) and may create in
-- public, which it does not own.
DO $db$
BEGIN
    EXECUTE format('GRANT ALL ON DATABASE %I TO supa_postgres', current_database());
END
$db$;
GRANT USAGE, CREATE ON SCHEMA public TO supa_postgres;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

-- Objects the project's own role creates in public are born granted to the API roles
-- (ALL on tables, sequences and functions): the Data API exposes whatever is in public.
-- Supabase announced that new projects stop doing this for tables; existing ones keep it.
ALTER DEFAULT PRIVILEGES FOR ROLE supa_postgres IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supa_postgres IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supa_postgres IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;

-- Extensions live in their own schema, usable by the API roles.
CREATE SCHEMA extensions;
-- Where the server ships them: an embedded PostgreSQL without contrib has neither, and
-- Focus Hub uses no extension, so their absence changes nothing the check looks at.
DO $ext$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'uuid-ossp') THEN
        CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;
    END IF;
END
$ext$;
GRANT USAGE ON SCHEMA extensions TO supa_postgres, anon, authenticated, service_role;

-- ----------------------------------------------------------------------- the auth schema
-- Owned by the auth service. The platform grants `postgres` USAGE and every privilege on
-- the tables that exist, but since 2025 no CREATE on the schema and no membership in
-- supabase_auth_admin: a project's migrations can read auth.users, not add to `auth`.
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;

-- The auth service creates its objects as supabase_auth_admin.
SET ROLE supabase_auth_admin;

-- The tables whose names matter here, with the columns of theirs that a foreign key or a
-- reader would touch (not the service's full definitions).
CREATE TABLE auth.users (
    instance_id uuid,
    id uuid PRIMARY KEY,
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    is_anonymous boolean NOT NULL DEFAULT false,
    created_at timestamptz,
    updated_at timestamptz,
    deleted_at timestamptz
);
CREATE TABLE auth.sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz,
    updated_at timestamptz,
    not_after timestamptz
);
CREATE TABLE auth.refresh_tokens (
    instance_id uuid,
    id bigserial PRIMARY KEY,
    token varchar(255) UNIQUE,
    user_id varchar(255),
    revoked boolean,
    parent varchar(255),
    session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE auth.identities (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id text NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    email text,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (provider_id, provider)
);
CREATE TYPE auth.one_time_token_type AS ENUM (
    'confirmation_token', 'reauthentication_token', 'recovery_token',
    'email_change_token_new', 'email_change_token_current', 'phone_change_token'
);
CREATE TABLE auth.one_time_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_type auth.one_time_token_type NOT NULL,
    token_hash text NOT NULL CHECK (char_length(token_hash) > 0),
    relates_to text NOT NULL,
    created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamp NOT NULL DEFAULT now()
);
CREATE TABLE auth.audit_log_entries (
    instance_id uuid,
    id uuid PRIMARY KEY,
    payload json,
    created_at timestamptz,
    ip_address varchar(64) NOT NULL DEFAULT ''
);
CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);

-- The claim readers, with the auth service's current semantics: the flat
-- request.jwt.claim.<name> setting wins when it is set at all (even to ''), the
-- request.jwt.claims JSON is read otherwise, and an empty result means NULL.
CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE
AS $fn$
    SELECT nullif(coalesce(current_setting('request.jwt.claim.sub', true),
                           current_setting('request.jwt.claims', true)::jsonb ->> 'sub'),
                  '')::uuid
$fn$;
CREATE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE
AS $fn$
    SELECT nullif(coalesce(current_setting('request.jwt.claim.role', true),
                           current_setting('request.jwt.claims', true)::jsonb ->> 'role'),
                  '')::text
$fn$;
CREATE FUNCTION auth.email() RETURNS text
LANGUAGE sql STABLE
AS $fn$
    SELECT nullif(coalesce(current_setting('request.jwt.claim.email', true),
                           current_setting('request.jwt.claims', true)::jsonb ->> 'email'),
                  '')::text
$fn$;
CREATE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE
AS $fn$
    SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$fn$;

RESET ROLE;

-- What the platform grants on `auth`: the API roles may call its functions; the project's
-- role may use the schema and read and write the tables that existed when it was granted,
-- but may not create in it (revoked since 2025).
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, supa_postgres;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO supa_postgres;
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth TO supa_postgres;
GRANT ALL ON ALL ROUTINES IN SCHEMA auth TO supa_postgres;
REVOKE ALL ON auth.schema_migrations FROM supa_postgres;
