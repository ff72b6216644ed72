"""Search ranks and pages inside one accessor, over a bounded window of matches.

Revision ID: 0009_search_ranked
Revises: 0008_chat_realtime

0007's accessors returned every matching id (290k for "python" at scale 10);
each was then read again under RLS and ranked, so a common term cost seconds.
``search_ranked()`` replaces them. For one content type it

1. takes the newest ``p_window`` matches the caller may see (published posts,
   every question, public resources, plus the caller's own drafts or private
   resources: the caller is ``auth.uid()``, never a parameter);
2. ranks them (title match + ``ts_rank_cd``, as before) and returns one page
   of ``(id, rank)`` after the cursor. The title match is read from the stored
   vector (its weight-A lexemes are the title's, at the title's positions)
   instead of parsing each title again.

The statement is built per call and run with ``EXECUTE ... USING``, so the
planner sees the query and picks its path: for a common term it walks the
newest-first index and stops after the window is full; for a rare one it reads
the GIN index. Either way the work is bounded by the window, not by the number
of matches. The API still reads the returned rows from the tables under RLS.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0009_search_ranked"
down_revision = "0008_chat_realtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- The newest-first walk uses idx_posts_published_new (0005) and
    -- idx_questions_newest (0006); resources are few and use their GIN index.
    CREATE FUNCTION public.search_ranked(
        p_type text,
        p_query tsquery,
        p_category text DEFAULT NULL,
        p_tag text DEFAULT NULL,
        p_after_rank float8 DEFAULT NULL,
        p_after_id uuid DEFAULT NULL,
        p_limit integer DEFAULT 20,
        p_window integer DEFAULT 300
    ) RETURNS TABLE (id uuid, rank float8)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    ROWS 20
    AS $fn$
    DECLARE
        tbl text;
        visible text;      -- rows everyone may read
        own_hidden text;   -- the caller's own rows that others may not read
        filters text := '';
        sql text;
    BEGIN
        CASE p_type
            WHEN 'post' THEN
                tbl := 'posts'; visible := 'x.is_published'; own_hidden := 'NOT x.is_published';
            WHEN 'question' THEN
                tbl := 'questions'; visible := 'true'; own_hidden := NULL;
            WHEN 'resource' THEN
                tbl := 'resources'; visible := 'x.is_public'; own_hidden := 'NOT x.is_public';
            ELSE
                RAISE EXCEPTION 'search_ranked: unknown type %', p_type USING ERRCODE = '22023';
        END CASE;
        IF p_window IS NULL OR p_window < 1 OR p_window > 10000 THEN
            RAISE EXCEPTION 'search_ranked: window must be 1..10000' USING ERRCODE = '22023';
        END IF;
        IF p_category IS NOT NULL THEN
            filters := filters || ' AND x.category = $2';
        END IF;
        IF p_tag IS NOT NULL THEN
            filters := filters || ' AND x.tags @> ARRAY[$3]';
        END IF;

        sql := format(
            'SELECT x.id, x.search_vector FROM %1$I x'
            ' WHERE %2$s AND x.search_vector @@ $1%3$s'
            ' ORDER BY x.created_at DESC, x.id DESC LIMIT %4$s',
            tbl, visible, filters, p_window);
        IF own_hidden IS NOT NULL AND auth.uid() IS NOT NULL THEN
            sql := '(' || sql || ') UNION ALL (' || format(
                'SELECT x.id, x.search_vector FROM %1$I x'
                ' WHERE x.author_id = auth.uid() AND %2$s AND x.search_vector @@ $1%3$s'
                ' ORDER BY x.created_at DESC, x.id DESC LIMIT %4$s',
                tbl, own_hidden, filters, p_window) || ')';
        END IF;
        sql := 'WITH candidates AS (' || sql || '), ranked AS ('
            ' SELECT c.id, (ts_filter(c.search_vector, ''{a}'') @@ $1)::int::float8'
            '   + ts_rank_cd(c.search_vector, $1, 1 | 32)::float8 AS rank'
            ' FROM candidates c)'
            ' SELECT r.id, r.rank FROM ranked r'
            || CASE WHEN p_after_rank IS NOT NULL THEN ' WHERE (r.rank, r.id) < ($4, $5)' ELSE '' END
            || ' ORDER BY r.rank DESC, r.id DESC LIMIT $6';
        RETURN QUERY EXECUTE sql
            USING p_query, p_category, p_tag, p_after_rank, p_after_id, p_limit;
    END
    $fn$;
    COMMENT ON FUNCTION public.search_ranked(text, tsquery, text, text, float8, uuid, integer, integer) IS
        'One page of (id, rank) of p_type items matching p_query, ranked among the newest p_window '
        'matches the caller may see. Rank: 1 for a title match + ts_rank_cd(search_vector, q, 1|32).';
    REVOKE ALL ON FUNCTION public.search_ranked(text, tsquery, text, text, float8, uuid, integer, integer)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.search_ranked(text, tsquery, text, text, float8, uuid, integer, integer)
        TO anon, authenticated, service_role;

    DROP FUNCTION public.search_public_resources(tsquery);
    DROP FUNCTION public.search_published_posts(tsquery);

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- 0007's accessors, as they were.
    CREATE FUNCTION public.search_published_posts(p_query tsquery) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p.id FROM posts p WHERE p.is_published AND p.search_vector @@ p_query
    $$;
    COMMENT ON FUNCTION public.search_published_posts(tsquery) IS
        'Ids of published posts matching the query, through idx_posts_search.';

    CREATE FUNCTION public.search_public_resources(p_query tsquery) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT r.id FROM resources r WHERE r.is_public AND r.search_vector @@ p_query
    $$;
    COMMENT ON FUNCTION public.search_public_resources(tsquery) IS
        'Ids of public resources matching the query, through idx_resources_search.';

    REVOKE ALL ON FUNCTION public.search_published_posts(tsquery), public.search_public_resources(tsquery)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.search_published_posts(tsquery), public.search_public_resources(tsquery)
        TO anon, authenticated, service_role;

    DROP FUNCTION public.search_ranked(text, tsquery, text, text, float8, uuid, integer, integer);

    SET LOCAL search_path TO DEFAULT;
    """)
