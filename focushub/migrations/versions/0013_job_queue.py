"""The job queue (procrastinate) in its own schema, and an index for pruning room events.

Revision ID: 0013_job_queue
Revises: 0012_answer_close_lock

The queue's tables and functions are procrastinate's own ``schema.sql``, read
from the pinned package (``procrastinate==3.10.0`` in pyproject.toml: a new
version of the library comes with a migration applying its
``sql/migrations`` files, never by editing this one). They live in the schema
``procrastinate``, outside the seed's ``public``:

* every function gets ``SET search_path = procrastinate, pg_temp``, so its
  unqualified table names resolve whoever calls it;
* only ``service_role`` may use the schema: request roles can neither read nor
  forge jobs (the API writes a request's jobs as service_role; workers log in
  with ``-c role=service_role -c search_path=procrastinate``).

``focushub_auth.issue_mail_token`` returns the id of the mail it queued (NULL when it
queued none, where it returned false), so the request can enqueue the
``mail.send`` job for exactly that mail.

``chat_room_events`` grows with every chat write; the ``chat.prune_events`` job
deletes old rows by ``created_at``, which a BRIN index serves (rows are
appended in time order).
"""

from __future__ import annotations

from importlib.resources import files

from focushub.migrations.sql import run_sql

revision = "0013_job_queue"
down_revision = "0012_answer_close_lock"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_sql = files("procrastinate.sql").joinpath("schema.sql").read_text()
    run_sql("CREATE SCHEMA procrastinate; SET LOCAL search_path = procrastinate, pg_temp;")
    run_sql(schema_sql)
    run_sql("""
    SET LOCAL search_path = public, pg_temp;
    DO $$
    DECLARE
        f regprocedure;
    BEGIN
        FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
                 WHERE p.pronamespace = 'procrastinate'::regnamespace LOOP
            EXECUTE format('ALTER FUNCTION %s SET search_path = procrastinate, pg_temp', f);
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        END LOOP;
    END
    $$;
    REVOKE ALL ON SCHEMA procrastinate FROM PUBLIC;
    GRANT USAGE ON SCHEMA procrastinate TO service_role;
    GRANT ALL ON ALL TABLES IN SCHEMA procrastinate TO service_role;
    GRANT ALL ON ALL SEQUENCES IN SCHEMA procrastinate TO service_role;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA procrastinate TO service_role;
    COMMENT ON SCHEMA procrastinate IS
        'Background jobs (procrastinate 3.10 schema); service_role only.';

    CREATE INDEX idx_chat_room_events_created_at ON public.chat_room_events
        USING brin (created_at);

    DROP FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT);
    CREATE FUNCTION focushub_auth.issue_mail_token(
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
    REVOKE ALL ON FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT)
        TO anon, authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    DROP INDEX public.idx_chat_room_events_created_at;
    DROP SCHEMA procrastinate CASCADE;

    DROP FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT);
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
    REVOKE ALL ON FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION focushub_auth.issue_mail_token(TEXT, TEXT, BYTEA, TIMESTAMPTZ, TEXT, TEXT)
        TO anon, authenticated;
    """)
