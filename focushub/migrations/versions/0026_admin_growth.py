"""The admin dashboard's growth over time, top tags and open reports.

Revision ID: 0026_admin_growth
Revises: 0025_blocks_mutes

``admin_growth(weeks)`` (admins only, SECURITY DEFINER like ``admin_stats()``: counts
over everything, not over what an admin's policies show): new users, posts, questions,
answers and chat messages per ISO week for the last ``weeks`` weeks (empty weeks
included, as zeros), the 10 most used tags of posts and questions in the last 30 days,
and the targets with open reports.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0026_admin_growth"
down_revision = "0025_blocks_mutes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION public.admin_growth(p_weeks integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        since timestamptz := date_trunc('week', now()) - make_interval(weeks => least(p_weeks, 104) - 1);
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        RETURN jsonb_build_object(
            'weeks', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'week', w::date,
                    'users', (SELECT count(*) FROM users WHERE created_at >= w AND created_at < w + interval '1 week'),
                    'posts', (SELECT count(*) FROM posts WHERE created_at >= w AND created_at < w + interval '1 week'),
                    'questions', (SELECT count(*) FROM questions WHERE created_at >= w AND created_at < w + interval '1 week'),
                    'answers', (SELECT count(*) FROM answers WHERE created_at >= w AND created_at < w + interval '1 week'),
                    'messages', (SELECT count(*) FROM chat_messages WHERE created_at >= w
                                 AND created_at < w + interval '1 week' AND message_type <> 'system')
                ) ORDER BY w), '[]')
                FROM generate_series(since, date_trunc('week', now()), interval '1 week') AS w),
            'top_tags', (
                SELECT coalesce(jsonb_agg(jsonb_build_object('tag', tag, 'uses', uses)
                                          ORDER BY uses DESC, tag), '[]')
                FROM (SELECT lower(t) AS tag, count(*) AS uses
                      FROM (SELECT unnest(tags) AS t FROM posts
                            WHERE created_at > now() - interval '30 days'
                            UNION ALL
                            SELECT unnest(tags) FROM questions
                            WHERE created_at > now() - interval '30 days') all_tags
                      GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10) top),
            'open_reports', (SELECT count(*) FROM reports WHERE status = 'open'),
            'reported_targets', (SELECT count(DISTINCT (target_type, target_id)) FROM reports
                                 WHERE status = 'open'));
    END
    $$;
    REVOKE ALL ON FUNCTION public.admin_growth(integer) FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.admin_growth(integer) TO authenticated;
    """)


def downgrade() -> None:
    run_sql("DROP FUNCTION public.admin_growth(integer);")
