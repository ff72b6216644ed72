"""search_ranked() leaves out what the caller may not read: hidden content and blocked authors.

Revision ID: 0056_search_sees_moderation
Revises: 0055_notification_updates

``search_ranked()`` (0009) ranks the newest matches of a type and returns a page of ids, which
the API then reads under the tables' policies. It knew drafts and private resources, but not
what a moderator hid (0021) nor authors across a block (0025): those rows took places among the
ranked window and the page, and the API, which now keeps their places so that no visible match
is skipped, could end up with short or empty pages whose cursor carried the id and rank of a row
the caller may not read. The function now leaves them out as the policies do: a hidden row is
ranked only for its author (in the branch of the caller's own rows) and for administrators, and
no row whose author is across a block from the caller is ranked at all. Same signature, grants
and plan shape; with no block the statement is the one it was plus ``hidden_at IS NULL``.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0056_search_sees_moderation"
down_revision = "0055_notification_updates"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION public.search_ranked(p_type text, p_query tsquery,
        p_category text DEFAULT NULL::text, p_tag text DEFAULT NULL::text,
        p_after_rank double precision DEFAULT NULL::double precision,
        p_after_id uuid DEFAULT NULL::uuid, p_limit integer DEFAULT 20,
        p_window integer DEFAULT 300)
    RETURNS TABLE(id uuid, rank double precision)
    LANGUAGE plpgsql
    STABLE SECURITY DEFINER ROWS 20
    SET search_path TO 'public', 'pg_temp'
AS $function${body}$function$;
"""

BEFORE = """
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
    """

AFTER = """
    DECLARE
        tbl text;
        visible text;      -- rows everyone may read
        own_hidden text;   -- the caller's own rows that others may not read
        filters text := '';
        sql text;
        wall uuid[];       -- the authors across a block from the caller (0025)
        admin boolean := focushub_auth.is_admin();
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
        -- What a moderator hid is read by its author and administrators only (0021), and
        -- nothing across a block by anyone (0025): left out here, as the tables' policies
        -- leave them out, so that they take no place among the ranked rows.
        IF NOT admin THEN
            visible := visible || ' AND x.hidden_at IS NULL';
            own_hidden := coalesce('(' || own_hidden || ') OR ', '') || 'x.hidden_at IS NOT NULL';
        END IF;
        wall := public.block_wall();

        sql := format(
            'SELECT x.id, x.search_vector FROM %1$I x'
            ' WHERE %2$s AND x.search_vector @@ $1%3$s%5$s'
            ' ORDER BY x.created_at DESC, x.id DESC LIMIT %4$s',
            tbl, visible, filters, p_window,
            CASE WHEN cardinality(wall) > 0 THEN ' AND x.author_id <> ALL ($7)' ELSE '' END);
        IF own_hidden IS NOT NULL AND auth.uid() IS NOT NULL THEN
            sql := '(' || sql || ') UNION ALL (' || format(
                'SELECT x.id, x.search_vector FROM %1$I x'
                ' WHERE x.author_id = auth.uid() AND (%2$s) AND x.search_vector @@ $1%3$s'
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
            USING p_query, p_category, p_tag, p_after_rank, p_after_id, p_limit, wall;
    END
    """


def upgrade() -> None:
    run_sql(FUNCTION.replace("{body}", AFTER))


def downgrade() -> None:
    run_sql(FUNCTION.replace("{body}", BEFORE))
