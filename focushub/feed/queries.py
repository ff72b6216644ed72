"""SQL of the feed: posts and questions merged into one keyset-paginated list.

Each branch of the UNION is ordered and limited on its own (so each reads only
one page from its index), then the merge is ordered and limited again. The
author and the caller's vote (``focushub.content.sql``; each row's vote looked up
by its own ``type``) are joined on the page only.
"""

from __future__ import annotations

from focushub.content.sql import author_and_my_vote, author_join

# (table, alias, type, votes column, replies column, extra condition)
_SOURCES = (
    ("posts", "p", "post", "likes_count", "comments_count", "p.is_published"),
    ("questions", "q", "question", "votes_count", "answers_count", "true"),
)


def feed_sql(*, scope: str, after: bool, authenticated: bool) -> str:
    """The feed statement. Binds :limit, and with ``after`` the cursor: :c_at and :c_id
    (latest, following) or :c_score and :c_id (trending).

    Each branch reads one page from its index: ``(created_at DESC, id DESC)``
    or, for trending, ``(trending_score DESC, id DESC)`` (0010); the cursor's
    row comparison uses only leakproof operators, so under RLS it is still an
    index condition.
    """
    branches = []
    for table, t, kind, votes, replies, condition in _SOURCES:
        where = [condition]
        if scope == "following":
            where.append(
                f"{t}.author_id IN (SELECT f.following_id FROM public.followers f"
                " WHERE f.follower_id = auth.uid())"
            )
        order_key = "trending_score" if scope == "trending" else "created_at"
        if after:
            bound = ":c_score" if scope == "trending" else ":c_at"
            where.append(f"({t}.{order_key}, {t}.id) < ({bound}, :c_id)")
        branches.append(
            f"(SELECT '{kind}'::text AS type, {t}.id, {t}.author_id, {t}.title, {t}.content,"
            f" {t}.category, {t}.tags, {t}.created_at, {t}.{votes} AS votes_count,"
            f" {t}.{replies} AS replies_count,"
            f" {t + '.trending_score' if scope == 'trending' else 'NULL::float8'} AS score"
            f" FROM public.{table} {t}"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY {t}.{order_key} DESC, {t}.id DESC LIMIT :limit)"
        )
    order = "i.score DESC, i.id DESC" if scope == "trending" else "i.created_at DESC, i.id DESC"
    return f"""
        WITH items AS (
            {' UNION ALL '.join(branches)}
        )
        SELECT i.type, i.id, i.title,
               left(btrim(regexp_replace(i.content, '\\s+', ' ', 'g')), 280) AS excerpt,
               i.category, coalesce(i.tags, '{{}}'::text[]) AS tags, i.created_at,
               i.votes_count, i.replies_count, i.score,
               {author_and_my_vote(authenticated, 'i')}
        FROM items i {author_join('i')}
        ORDER BY {order}
        LIMIT :limit
    """
