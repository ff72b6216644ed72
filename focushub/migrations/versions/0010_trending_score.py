"""Trending as a stored, indexed score that does not change with time.

Revision ID: 0010_trending_score
Revises: 0009_search_ranked

The feed and question lists ranked trending items by
``(votes + 2 * replies + 1) / (age_hours + 2) ^ 1.5`` at request time, which
scores every row of the window on every page (75k rows at scale 10). This
revision stores a score whose order between two items never changes as time
passes, so it can be indexed and a page reads one index range:

    trending_score = round(sign(s) * log10(max(|s|, 1)), 1) + seconds since 2025-01-01 / 72000
    where s = votes + 2 * replies   (net votes; comments or answers)

Every tenfold of activity is worth 20 hours of recency. The activity term is
rounded to tenths (steps of 2 hours): most counter changes of an active item
then leave the score, and so the index entry, as it was, and PostgreSQL can
update the row in place (HOT) as it did before this index. Views are not part
of it: counting a view would then rewrite the index entry, and views are the
easiest signal to inflate. The column is ``GENERATED ALWAYS ... STORED``: no request can
write it, and the counter triggers keep it current.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0010_trending_score"
down_revision = "0009_search_ranked"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    CREATE FUNCTION public.trending_score(p_votes integer, p_replies integer, p_created_at timestamptz)
    RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN round((sign(p_votes::bigint + 2 * p_replies::bigint)::float8
                  * log(greatest(abs(p_votes::bigint + 2 * p_replies::bigint), 1)::float8))::numeric, 1)::float8
         + extract(epoch FROM (p_created_at - timestamptz '2025-01-01 00:00:00+00'))::float8 / 72000.0;
    COMMENT ON FUNCTION public.trending_score(integer, integer, timestamptz) IS
        'round(sign(s)·log10(max(|s|,1)), 1) + seconds since 2025-01-01 / 72000, s = votes + 2·replies: '
        'a tenfold of activity is worth 20 hours of recency; the order of two items never changes with time.';
    REVOKE ALL ON FUNCTION public.trending_score(integer, integer, timestamptz) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION public.trending_score(integer, integer, timestamptz)
        TO anon, authenticated, service_role;

    ALTER TABLE posts ADD COLUMN trending_score float8 NOT NULL
        GENERATED ALWAYS AS (public.trending_score(likes_count, comments_count, created_at)) STORED;
    ALTER TABLE questions ADD COLUMN trending_score float8 NOT NULL
        GENERATED ALWAYS AS (public.trending_score(votes_count, answers_count, created_at)) STORED;

    CREATE INDEX idx_posts_published_trending ON posts (trending_score DESC, id DESC)
        WHERE is_published;
    CREATE INDEX idx_questions_trending ON questions (trending_score DESC, id DESC);

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    DROP INDEX idx_questions_trending;
    DROP INDEX idx_posts_published_trending;
    ALTER TABLE questions DROP COLUMN trending_score;
    ALTER TABLE posts DROP COLUMN trending_score;
    DROP FUNCTION public.trending_score(integer, integer, timestamptz);

    SET LOCAL search_path TO DEFAULT;
    """)
