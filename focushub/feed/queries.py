"""SQL of the feed: posts and questions merged into one keyset-paginated list.

Each branch of the UNION is ordered and limited on its own (so each reads only
one page from its index), then the merge is ordered and limited again. The
author and the caller's vote (``focushub.content.sql``; each row's vote looked up
by its own ``type``) are joined on the page only.

The ``following`` scope never reads more than a bounded window of the global
timeline, nor more than one page per followed author (see
:func:`_following_branches`): its cost does not grow with the number of posts,
nor with how prolific the followed authors are. (Filtering the whole timeline by
the follow list reads ever more of it as it grows past the followed authors'
items; collecting their items first reads all of a prolific author's.)
"""

from __future__ import annotations

from functools import lru_cache

from focushub.content.sql import author_and_my_vote, author_join, author_json
from focushub.core.jsonsql import json_page_sql, json_time

# (table, alias, type, votes column, replies column, extra condition)
_SOURCES = (
    ("posts", "p", "post", "likes_count", "comments_count", "p.is_published"),
    ("questions", "q", "question", "votes_count", "answers_count", "true"),
)


# Newest items of everyone read first for the following feed, per table (see below).
RECENT_WINDOW = 1000


def _recent_of_followed(t: str, table: str, columns: str, where: list[str]) -> str:
    """CTE ``recent_{t}``: the followed authors' items among the newest
    :data:`RECENT_WINDOW` of ``table`` (after the cursor), at most one page."""
    return (
        f"recent_{t} AS MATERIALIZED (SELECT w.* FROM"
        f" (SELECT {columns} FROM public.{table} {t} WHERE {' AND '.join(where)}"
        f" ORDER BY {t}.created_at DESC, {t}.id DESC LIMIT {RECENT_WINDOW}) w"
        " WHERE w.author_id IN (SELECT f.following_id FROM public.followers f"
        " WHERE f.follower_id = auth.uid())"
        " ORDER BY w.created_at DESC, w.id DESC LIMIT :limit)"
    )


def _following_branches(t: str, table: str, columns: str, where: list[str]) -> list[str]:
    """The page of ``table`` for the following feed: for someone who follows many people,
    ``recent_{t}`` when it holds a full page; otherwise one page per followed author,
    merged.

    A full page among the newest items of everyone is the answer (nothing newer was
    left out), and costs a bounded read of the newest-first index: that is the case of
    someone following many active people. Otherwise each followed author's newest
    items are read from ``(author_id, created_at DESC, id DESC)`` (0005, 0006) in a
    LATERAL subquery, at most a page each: the cost is the number of followed authors
    times one page, whatever the number of posts and however prolific the authors.
    Someone who follows few people (followed × page ≤ :data:`RECENT_WINDOW`) goes to the
    per-author branch at once: it reads no more than the window would, and the window,
    on a site large enough that their authors' items are rarely among the newest of
    everyone, would be read in vain first. Exactly one of the two branches returns rows
    (the counts are InitPlans, evaluated only when needed, so the other branch is not
    run, and the window is not read for someone who follows few).
    """
    # The window first only for someone who follows many: one page per followed author
    # reads at most as much as the window when followed × page ≤ RECENT_WINDOW, and does
    # not grow with the data, which the window (often not full on a large site) does.
    # The count stops at the first RECENT_WINDOW + 1 follows.
    many = (f"(SELECT count(*) FROM (SELECT 1 FROM public.followers f"
            f" WHERE f.follower_id = auth.uid() LIMIT {RECENT_WINDOW + 1}) n)"
            f" * :limit > {RECENT_WINDOW}")
    full = f"({many} AND (SELECT count(*) FROM recent_{t}) >= :limit)"
    # The inner LIMIT is a subquery so that the planner, not seeing its value, plans for
    # a small part of an author's items: the ordered index walk that stops after one
    # page. With the value in sight it compares a page with the average author's few
    # items and may read and sort all of a prolific one's.
    per_author = " AND ".join([*where, f"{t}.author_id = f.following_id"])
    return [
        f"(SELECT * FROM recent_{t} WHERE {full})",
        f"(SELECT {t}.* FROM public.followers f CROSS JOIN LATERAL"
        f" (SELECT {columns} FROM public.{table} {t} WHERE {per_author}"
        f" ORDER BY {t}.created_at DESC, {t}.id DESC LIMIT (SELECT CAST(:limit AS integer))) {t}"
        f" WHERE f.follower_id = auth.uid() AND NOT {full}"
        f" ORDER BY {t}.created_at DESC, {t}.id DESC LIMIT :limit)",
    ]


def feed_sql(*, scope: str, after: bool, authenticated: bool) -> str:
    """The feed statement. Binds :limit, and with ``after`` the cursor: :c_at and :c_id
    (latest, following) or :c_score and :c_id (trending).

    Each branch reads one page from its index: ``(created_at DESC, id DESC)``
    or, for trending, ``(trending_score DESC, id DESC)`` (0010); the cursor's
    row comparison uses only leakproof operators, so under RLS it is still an
    index condition.
    """
    ctes: list[str] = []
    branches: list[str] = []
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
            ctes.append(_recent_of_followed(t, table, columns, where))
            branches += _following_branches(t, table, columns, where)
        else:
            branches.append(
                f"(SELECT {columns} FROM public.{table} {t} WHERE {' AND '.join(where)} {order})"
            )
    order = "i.score DESC, i.id DESC" if scope == "trending" else "i.created_at DESC, i.id DESC"
    return f"""
        WITH {''.join(f"{c}, " for c in ctes)}items AS (
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


def _item_json(alias: str) -> str:
    """One ``FeedItemRead`` as JSON, over a row of :func:`feed_sql`."""
    r = alias
    return (
        f"json_build_object('type', {r}.type, 'id', {r}.id, 'title', {r}.title,"
        f" 'excerpt', {r}.excerpt, 'author', {author_json(r)}, 'category', {r}.category,"
        f" 'tags', {r}.tags, 'created_at', {json_time(f'{r}.created_at')},"
        f" 'votes_count', {r}.votes_count, 'replies_count', {r}.replies_count,"
        f" 'score', {r}.score, 'my_vote', {r}.my_vote)"
    )


@lru_cache(maxsize=16)  # a handful of variants, each built once
def feed_page_json(*, scope: str, after: bool, authenticated: bool) -> str:
    """:func:`feed_sql` as a ``Page[FeedItemRead]`` built by PostgreSQL (a hot read,
    ``focushub.core.jsonsql``); its cursor keys are (score, id) for trending, else
    (created_at, id). Binds what :func:`feed_sql` binds, and :page_size."""
    key = "r.score" if scope == "trending" else "r.created_at"
    return json_page_sql(
        feed_sql(scope=scope, after=after, authenticated=authenticated),
        item=_item_json("r"), order=f"{key} DESC, r.id DESC", keys=(key, "r.id"))
