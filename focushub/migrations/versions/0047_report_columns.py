"""A reporter reads their reports without who resolved them, the moderator's note or the
reported author.

Revision ID: 0047_report_columns
Revises: 0046_answers_follow_question

0021 granted ``SELECT`` on every column of ``reports`` to ``authenticated`` and let the
policy ``"Reporters see their reports, admins all"`` choose the rows. A reporter therefore
read, in SQL, ``resolved_by`` (which administrator acted, a name people who were reported
would like to have), ``resolution`` (the action and the reason written for the author) and
``target_user_id`` (the author of a chat message or answer they may no longer see). The API
never returned these columns to a reporter; the database now does not either:

* ``authenticated`` may read only ``id``, ``reporter_id``, ``target_type``, ``target_id``,
  ``reason``, ``details``, ``snapshot``, ``status``, ``created_at`` and ``resolved_at``;
* administrators read the open reports whole through ``admin_open_reports()`` (the
  moderation queue), which refuses anyone else. Column privileges are per role, and an
  administrator's requests run as ``authenticated`` like everyone's.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0047_report_columns"
down_revision = "0046_answers_follow_question"
branch_labels = None
depends_on = None

READABLE = ("id, reporter_id, target_type, target_id, reason, details, snapshot, status,"
            " created_at, resolved_at")


def upgrade() -> None:
    run_sql(f"""
    REVOKE SELECT ON public.reports FROM authenticated;
    GRANT SELECT ({READABLE}) ON public.reports TO authenticated;

    CREATE FUNCTION public.admin_open_reports() RETURNS SETOF public.reports
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        RETURN QUERY SELECT * FROM public.reports WHERE status = 'open';
    END
    $$;
    COMMENT ON FUNCTION public.admin_open_reports() IS
        'Every open report with all its columns, for the moderation queue; administrators only.';
    REVOKE ALL ON FUNCTION public.admin_open_reports() FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.admin_open_reports() TO authenticated;
    """)


def downgrade() -> None:
    run_sql(f"""
    DROP FUNCTION public.admin_open_reports();
    REVOKE SELECT ({READABLE}) ON public.reports FROM authenticated;
    GRANT SELECT ON public.reports TO authenticated;
    """)
