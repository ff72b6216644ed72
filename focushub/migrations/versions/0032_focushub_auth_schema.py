"""Move Focus Hub's credentials out of ``auth`` into ``focushub_auth`` on existing installs.

Revision ID: 0032_focushub_auth_schema
Revises: 0031_chat_consent

Until this revision, 0003 and 0004 created Focus Hub's credential tables
(``credentials``, ``refresh_tokens``, ``one_time_tokens``, ``mail_outbox``) and the
functions that reach them (``sign_up``, ``login_lookup``, ``start_session``,
``rotate_session``, ``end_session``, ``issue_mail_token``, ``consume_mail_token``,
``verify_email``, ``reset_password``, ``ensure_admin``, ``is_admin``) in the ``auth``
schema. On Supabase that schema belongs to the platform's auth service (which has its
own ``refresh_tokens`` and ``one_time_tokens``) and the migration role may not create
in it, so the chain stopped at 0003. Those revisions now create the same objects in
``focushub_auth`` (made by 0001); see docs/supabase.md.

A database migrated before that change still has them in ``auth``. Here they are moved
with ``ALTER ... SET SCHEMA``: indexes, constraints, owned sequences, grants, comments,
policies and triggers refer to them by OID and follow. Function *bodies* are text, so
every function in ``public``, ``auth`` or ``focushub_auth`` whose body names a moved
object is recreated from ``pg_get_functiondef`` with the new name; owner, grants,
comment and settings are kept by ``CREATE OR REPLACE``. Afterwards the database is the
one a fresh install reaches at this revision, which is why the downgrade has nothing
to undo (the earlier revisions' downgrades already name ``focushub_auth``).

On a fresh install (``auth.credentials`` absent) this revision does nothing.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0032_focushub_auth_schema"
down_revision = "0031_chat_consent"
branch_labels = None
depends_on = None

TABLES = ("credentials", "refresh_tokens", "one_time_tokens", "mail_outbox")
FUNCTIONS = ("sign_up", "login_lookup", "start_session", "rotate_session", "end_session",
             "issue_mail_token", "consume_mail_token", "verify_email", "reset_password",
             "ensure_admin", "is_admin")


def move_sql(source: str, target: str) -> str:
    """The script that moves the objects above from schema ``source`` to ``target``.

    A no-op unless ``source.credentials`` exists. ``target`` must exist.
    """
    tables = ", ".join(f"'{t}'" for t in TABLES)
    functions = ", ".join(f"'{f}'" for f in FUNCTIONS)
    names = "|".join(TABLES + FUNCTIONS)
    return f"""
    DO $move$
    DECLARE
        obj record;
        def text;
    BEGIN
        IF to_regclass('{source}.credentials') IS NULL THEN
            RETURN;
        END IF;
        FOR obj IN
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = '{source}'::regnamespace AND c.relkind = 'r'
              AND c.relname IN ({tables})
        LOOP
            EXECUTE format('ALTER TABLE {source}.%I SET SCHEMA {target}', obj.relname);
        END LOOP;
        FOR obj IN
            SELECT p.oid::regprocedure AS fn FROM pg_proc p
            WHERE p.pronamespace = '{source}'::regnamespace AND p.proname IN ({functions})
        LOOP
            EXECUTE format('ALTER FUNCTION %s SET SCHEMA {target}', obj.fn);
        END LOOP;
        FOR obj IN
            SELECT p.oid FROM pg_proc p
            WHERE p.pronamespace IN ('public'::regnamespace, '{source}'::regnamespace,
                                     '{target}'::regnamespace)
              AND p.prokind = 'f'
              AND p.prosrc ~ '\\m{source}\\.({names})\\M'
        LOOP
            def := regexp_replace(pg_get_functiondef(obj.oid),
                                  '\\m{source}\\.({names})\\M', '{target}.\\1', 'g');
            EXECUTE def;
        END LOOP;
    END
    $move$;
    """


def upgrade() -> None:
    # The schema as 0001 now makes it, where 0001 ran before it did.
    run_sql("""
    DO $schema$
    BEGIN
        IF to_regnamespace('focushub_auth') IS NULL THEN
            CREATE SCHEMA focushub_auth;
            COMMENT ON SCHEMA focushub_auth IS 'focushub:0001 credentials, sessions and outgoing mail';
            GRANT USAGE ON SCHEMA focushub_auth TO anon, authenticated, service_role;
        END IF;
    END
    $schema$;
    """)
    run_sql(move_sql("auth", "focushub_auth"))


def downgrade() -> None:
    """Nothing: after the upgrade the layout is the fresh install's at this revision."""
