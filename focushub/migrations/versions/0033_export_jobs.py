"""Account exports built by a job, kept for a while, downloaded by their owner.

Revision ID: 0033_export_jobs
Revises: 0032_focushub_auth_schema

* ``account_exports``: one row per export a person asked for, with its state
  (``queued`` → ``running`` → ``ready`` or ``failed``), and once ready the object
  that holds the zip (``storage_key``, size, SHA-256) and when it expires.
  Readable by its owner only; nobody writes it from a request: the rows are made
  by ``request_account_export()`` and moved on by the ``accounts.export`` job
  (service_role). At most one export of a person is queued or running
  (``account_exports_one_active``).
* ``request_account_export()`` (signed-in callers, for themselves): a new queued
  export, or the one already queued or running (``created`` false). A new one
  replaces the person's earlier finished exports, so each person has at most one.
* Deleting a row (expiry, a newer export, the account going) queues its object in
  ``storage_deletions`` for ``files.purge``, as stored files do (0014).
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0033_export_jobs"
down_revision = "0032_focushub_auth_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE public.account_exports (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        status text NOT NULL DEFAULT 'queued' CONSTRAINT account_exports_status_check
            CHECK (status IN ('queued', 'running', 'ready', 'failed')),
        storage_key text UNIQUE,
        file_name varchar(255),
        size bigint CONSTRAINT account_exports_size_check CHECK (size > 0),
        sha256 text CONSTRAINT account_exports_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        error text CONSTRAINT account_exports_error_length CHECK (char_length(error) <= 500),
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        expires_at timestamptz,
        CONSTRAINT account_exports_ready_check CHECK ((status = 'ready') = (
            storage_key IS NOT NULL AND file_name IS NOT NULL AND size IS NOT NULL
            AND sha256 IS NOT NULL AND expires_at IS NOT NULL))
    );
    COMMENT ON TABLE public.account_exports IS
        'Account exports built by the accounts.export job: state, and once ready the zip''s object.';
    CREATE UNIQUE INDEX account_exports_one_active ON public.account_exports (user_id)
        WHERE status IN ('queued', 'running');
    CREATE INDEX idx_account_exports_user ON public.account_exports (user_id, created_at DESC);
    CREATE INDEX idx_account_exports_expires ON public.account_exports (expires_at)
        WHERE expires_at IS NOT NULL;
    ALTER TABLE public.account_exports ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.account_exports FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON public.account_exports TO authenticated;
    GRANT ALL ON public.account_exports TO service_role;
    CREATE POLICY "Users can view own exports" ON public.account_exports
        FOR SELECT TO authenticated USING (user_id = auth.uid());

    CREATE FUNCTION public.queue_export_deletion() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF OLD.storage_key IS NOT NULL THEN
            INSERT INTO storage_deletions (storage_key) VALUES (OLD.storage_key)
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$;
    REVOKE ALL ON FUNCTION public.queue_export_deletion()
        FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER queue_export_deletion_trigger
        AFTER DELETE ON public.account_exports
        FOR EACH ROW EXECUTE FUNCTION public.queue_export_deletion();

    CREATE FUNCTION public.request_account_export(OUT id uuid, OUT created boolean)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        me uuid := auth.uid();
    BEGIN
        IF me IS NULL OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = me) THEN
            RAISE EXCEPTION 'not_found: this account no longer exists';
        END IF;
        -- The one queued or running may finish between the INSERT and the SELECT: try again.
        LOOP
            INSERT INTO account_exports AS e (user_id) VALUES (me)
            ON CONFLICT (user_id) WHERE status IN ('queued', 'running') DO NOTHING
            RETURNING e.id INTO id;
            IF id IS NOT NULL THEN
                created := true;
                DELETE FROM account_exports e
                WHERE e.user_id = me AND e.status IN ('ready', 'failed');
                RETURN;
            END IF;
            created := false;
            SELECT e.id INTO id FROM account_exports e
            WHERE e.user_id = me AND e.status IN ('queued', 'running');
            IF id IS NOT NULL THEN
                RETURN;
            END IF;
        END LOOP;
    END
    $$;
    REVOKE ALL ON FUNCTION public.request_account_export()
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.request_account_export() TO authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION public.request_account_export();
    DROP TABLE public.account_exports;
    DROP FUNCTION public.queue_export_deletion();
    """)
