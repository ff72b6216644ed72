"""SQL of the feed: posts and questions merged into one keyset-paginated list.

Each branch of the UNION is ordered and limited on its own (so each reads only
one page from its index), then the merge is ordered and limited again. The
author and the caller's vote (``focushub.content.sql``; each row's vote looked up
by its own ``type``) are joined on the page only.

The ``following`` scope reads, for each followed author, at most one page of
their newest items from ``(author_id, created_at DESC, id DESC)`` (0005, 0006)
in a LATERAL subquery, and merges those. Its cost is the number of followed
authors times one page: it does not grow with the number of posts, nor with how
prolific the followed authors are (filtering the global timeline by the follow
list reads ever more of it as the timeline grows past the followed authors'
items, and collecting their items first reads all of a prolific author's).
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
        order_key = "trending_score" if scope == "trending" else "created_at"
        if after:
            bound = ":c_score" if scope == "trending" else ":c_at"
            where.append(f"({t}.{order_key}, {t}.id) < ({bound}, :c_id)")
        columns = (
            f"'{kind}'::text AS type, {t}.id, {t}.author_id, {t}.title, {t}.content,"
            f" {t}.category, {t}.tags, {t}.created_at, {t}.{votes} AS votes_count,"
            f" {t}.{replies} AS replies_count,"
            f" {t + '.trending_score' if scope == 'trending' else 'NULL::float8'} AS score"
        )
        order = f"ORDER BY {t}.{order_key} DESC, {t}.id DESC LIMIT :limit"
        if scope == "following":
            # One page per followed author (an index range each), then the newest of those.
            # The inner LIMIT is a subquery so that the planner, not seeing its value,
            # plans for a small part of an author's items: the ordered index walk that
            # stops after one page. With the value in sight it compares a page with the
            # average author's few items and may read and sort all of a prolific one's.
            where.append(f"{t}.author_id = f.following_id")
            branches.append(
                f"(SELECT {t}.* FROM public.followers f CROSS JOIN LATERAL"
                f" (SELECT {columns} FROM public.{table} {t} WHERE {' AND '.join(where)}"
                f" ORDER BY {t}.created_at DESC, {t}.id DESC LIMIT (SELECT CAST(:limit AS integer))) {t}"
                f" WHERE f.follower_id = auth.uid() {order})"
            )
        else:
            branches.append(
                f"(SELECT {columns} FROM public.{table} {t} WHERE {' AND '.join(where)} {order})"
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
