"""SQL of the feed: posts and questions merged into one keyset-paginated list.

Each branch of the UNION is ordered and limited on its own (so each reads only
one page from its index), then the merge is ordered and limited again. The
author and the caller's vote are joined on the page only.
"""

from __future__ import annotations

from datetime import timedelta

# Trending score of one item at the instant `as_of` (see focushub/feed/service.py):
#   (votes + 2 * replies + 1) / (age_hours + 2) ^ 1.5
# computed in float8 throughout, so the value in a cursor compares exactly.
_SCORE = (
    "(({votes} + 2 * {replies} + 1)::float8"
    " / power(extract(epoch FROM (prm.as_of - {t}.created_at))::float8 / 3600.0 + 2.0, 1.5))"
)

# (table, alias, type, votes column, replies column, extra condition)
_SOURCES = (
    ("posts", "p", "post", "likes_count", "comments_count", "p.is_published"),
    ("questions", "q", "question", "votes_count", "answers_count", "true"),
)

TRENDING_WINDOW = timedelta(days=7)

_MY_VOTE = (
    "(SELECT v.vote_type::text FROM public.votes v"
    " WHERE v.user_id = auth.uid() AND v.votable_type = i.type AND v.votable_id = i.id)"
)


def feed_sql(*, scope: str, after: bool, authenticated: bool) -> str:
    """The feed statement. Binds :limit, :as_of, :window_start (trending), and with ``after``
    the cursor: :c_at and :c_id (latest, following) or :c_score and :c_id (trending)."""
    branches = []
    for table, t, kind, votes, replies, condition in _SOURCES:
        score = _SCORE.format(votes=f"{t}.{votes}", replies=f"{t}.{replies}", t=t)
        where = [condition]
        if scope == "following":
            where.append(
                f"{t}.author_id IN (SELECT f.following_id FROM public.followers f"
                " WHERE f.follower_id = auth.uid())"
            )
        if scope == "trending":
            # Bounds as plain parameters (not derived from the prm row) so the planner
            # can range-scan the created_at index; under RLS it would otherwise read
            # every row of the table (1.8 s at 1M posts).
            where.append(f"{t}.created_at <= :as_of")
            where.append(f"{t}.created_at > :window_start")
        inner = (
            f"SELECT '{kind}'::text AS type, {t}.id, {t}.author_id, {t}.title, {t}.content,"
            f" {t}.category, {t}.tags, {t}.created_at, {t}.{votes} AS votes_count,"
            f" {t}.{replies} AS replies_count,"
            f" {score if scope == 'trending' else 'NULL::float8'} AS score, prm.as_of"
            f" FROM public.{table} {t} CROSS JOIN prm"
            f" WHERE {' AND '.join(where)}"
        )
        if scope == "trending":
            cursor = "(s.score, s.id) < (:c_score, :c_id)" if after else "true"
            branches.append(
                f"(SELECT s.* FROM ({inner}) s WHERE {cursor}"
                " ORDER BY s.score DESC, s.id DESC LIMIT :limit)"
            )
        else:
            cursor = f" AND ({t}.created_at, {t}.id) < (:c_at, :c_id)" if after else ""
            branches.append(
                f"({inner}{cursor} ORDER BY {t}.created_at DESC, {t}.id DESC LIMIT :limit)"
            )
    order = "i.score DESC, i.id DESC" if scope == "trending" else "i.created_at DESC, i.id DESC"
    my_vote = _MY_VOTE if authenticated else "NULL::text"
    return f"""
        WITH prm AS (SELECT CAST(:as_of AS timestamptz) AS as_of),
        items AS (
            {' UNION ALL '.join(branches)}
        )
        SELECT i.type, i.id, i.title,
               left(btrim(regexp_replace(i.content, '\\s+', ' ', 'g')), 280) AS excerpt,
               i.category, coalesce(i.tags, '{{}}'::text[]) AS tags, i.created_at,
               i.votes_count, i.replies_count, i.score, i.as_of,
               u.id AS author_id, u.username AS author_username, u.full_name AS author_full_name,
               u.avatar_url AS author_avatar_url,
               {my_vote} AS my_vote
        FROM items i
        JOIN public.users u ON u.id = i.author_id
        ORDER BY {order}
        LIMIT :limit
    """
