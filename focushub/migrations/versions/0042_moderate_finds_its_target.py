"""Moderating something that never existed answers ``not_found`` instead of succeeding.

Revision ID: 0042_moderate_finds_its_target
Revises: 0041_admin_lift_suspension

``moderate()`` (0021, 0040) accepted any id: ``dismiss`` (or ``warn``) of an id that no
row and no report had ever named resolved nothing, answered 200 and wrote an audit entry
about a target that does not exist. A target that is gone but was reported stays
moderatable (its reports name the author, and dismissing them closes them), so the test is
"neither the row nor any report": then ``not_found``, after the check that the caller is an
administrator (nobody else learns whether an id exists).

The body of ``moderate()`` is not restated: it becomes ``moderate_target()``, callable
only from here, and ``moderate()`` checks the target and calls it.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0042_moderate_finds_its_target"
down_revision = "0041_admin_lift_suspension"
branch_labels = None
depends_on = None

_ARGS = "report_target, uuid, text, text, timestamptz, text"


def upgrade() -> None:
    run_sql(f"""
    ALTER FUNCTION public.moderate({_ARGS}) RENAME TO moderate_target;
    REVOKE ALL ON FUNCTION public.moderate_target({_ARGS})
        FROM PUBLIC, anon, authenticated, service_role;
    COMMENT ON FUNCTION public.moderate_target({_ARGS}) IS
        'The body of moderate(), called by it once the target is known to exist or to have been reported.';

    CREATE FUNCTION public.moderate(
        p_type report_target, p_id uuid, p_action text, p_reason text,
        p_suspend_until timestamptz, p_request_id text
    ) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        IF (SELECT s.state FROM public.report_target_state(p_type, p_id) s) = 'deleted'
           AND NOT EXISTS (SELECT 1 FROM reports r
                           WHERE r.target_type = p_type AND r.target_id = p_id) THEN
            RAISE EXCEPTION 'not_found: there is nothing to moderate here';
        END IF;
        RETURN public.moderate_target(p_type, p_id, p_action, p_reason, p_suspend_until,
                                      p_request_id);
    END
    $$;
    COMMENT ON FUNCTION public.moderate({_ARGS}) IS
        'An administrator resolves every open report of a target with one action (logged, author notified).';
    REVOKE ALL ON FUNCTION public.moderate({_ARGS}) FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.moderate({_ARGS}) TO authenticated;
    """)


def downgrade() -> None:
    run_sql(f"""
    DROP FUNCTION public.moderate({_ARGS});
    ALTER FUNCTION public.moderate_target({_ARGS}) RENAME TO moderate;
    COMMENT ON FUNCTION public.moderate({_ARGS}) IS NULL;
    GRANT EXECUTE ON FUNCTION public.moderate({_ARGS}) TO authenticated;
    """)
