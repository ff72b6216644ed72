"""SQL of search: full text over content, prefix and word matches over users.

Content ranking (posts, questions, resources), highest first:

    rank = title_match + ts_rank_cd(search_vector, query, 1 | 32)

``title_match`` is 1 when the title alone satisfies the query, else 0;
``ts_rank_cd`` with normalisation 1 (divide by 1 + log(length)) and 32
(r / (r + 1)) lies in [0, 1). So every item whose title matches ranks above
every item that matches only in its body, however often a body repeats the
words (keyword stuffing only moves an item among the body-only matches, and
there with diminishing returns). ``search_vector`` is the stored column of
0003 (title weight A, body B; for resources also the file's text, C, 0014).

The ranking is bounded: for each type it considers the newest
``RANK_WINDOW`` (300) of matches the caller may see. A rare term
is ranked over all its matches; a term found in hundreds of thousands of items
is ranked over its most recent 300, so a page no longer costs time in
proportion to every match (docs/performance.md has the figures). Older
matches stay reachable by narrowing the query, the category or the tag.
"""

from __future__ import annotations

from functools import lru_cache

from focushub.content.sql import AUTHOR_COLUMNS, author_json
from focushub.core.jsonsql import json_page_sql, json_time
from focushub.search.schemas import HIGHLIGHT_START, HIGHLIGHT_STOP

# type -> (table, alias, body expression). A resource's body is its description and the
# start of its file's extracted text (0014), so a match inside an uploaded PDF gets a snippet.
CONTENT_SOURCES = {
    "post": ("posts", "p", "p.content"),
    "question": ("questions", "q", "q.content"),
    "resource": ("resources", "r", "concat_ws(' ', r.description, left(r.extracted_text, 20000))"),
}

# How many of the newest matches of each type are ranked (search_ranked's p_window).
# Finding them costs about sqrt(window × rows of the table) row checks for the
# worst terms; at 1M posts a page takes a median 6–10 ms and p95 13–21 ms with 300,
# against 21 / 84 ms with 1,000 (docs/performance.md).
RANK_WINDOW = 300

# Written out where it is used rather than computed once in a CTE: as an
# expression of the parameter it is folded to a constant, so the planner
# estimates it from statistics and matches it against the GIN indexes.
TSQUERY = "websearch_to_tsquery('english'::regconfig, :q)"

# The text a snippet is cut from. The markers are characters a text may hold itself (French
# quotes are « »), and a reader could not tell its own from a match: the text's are shown as
# the single guillemets ‹ ›.
_SNIPPET_SOURCE = (f"translate(coalesce(page.body, ''), '{HIGHLIGHT_START}{HIGHLIGHT_STOP}',"
                   " '‹›')")

HEADLINE_OPTIONS = (
    f'StartSel="{HIGHLIGHT_START}", StopSel="{HIGHLIGHT_STOP}", '
    'MaxWords=35, MinWords=15, ShortWord=3, MaxFragments=2, FragmentDelimiter=" … "'
)


def content_sql(*, types: list[str]) -> str:
    """Binds :q, :limit, :headline, :category, :tag, :c_rank and :c_id (NULL when unused).

    Under RLS PostgreSQL may not use ``@@`` (not leakproof) as an index
    condition on a table whose policies filter rows, and ranking every match
    of a common term is linear in the matches. So each type's page comes from
    ``public.search_ranked()`` (0009), a SECURITY DEFINER accessor that ranks
    the newest matches the caller may see and returns one page of
    ``(id, rank)``. Those rows are then read from the table itself, under RLS,
    which still decides what comes back.

    ``search_ranked()`` knows drafts and private resources, but not what a
    moderator hid (0021) nor what is behind a block (0025): such a match holds
    its place among the ranked rows, with ``shown`` false and nothing read. The
    page and its cursor are made of every ranked row, shown or not, and only the
    shown ones are items: a page may then hold fewer items than its length, but
    no visible match below the ones held back is skipped (were they dropped
    before the page was cut, a type whose ranked rows were all held back would
    end the list, and its visible rows further down would never come).
    """
    branches = []
    for kind in types:
        table, t, body = CONTENT_SOURCES[kind]
        branches.append(
            f"SELECT '{kind}'::text AS type, c.id, {t}.id IS NOT NULL AS shown, {t}.title,"
            f" {body} AS body, {t}.author_id, {t}.category, {t}.tags, {t}.created_at, c.rank"
            f" FROM public.search_ranked('{kind}', {TSQUERY}, CAST(:category AS text),"
            f" CAST(:tag AS text), CAST(:c_rank AS float8), CAST(:c_id AS uuid), CAST(:limit AS integer),"
            f" {RANK_WINDOW}) AS c"
            f" LEFT JOIN public.{table} {t} ON {t}.id = c.id"
        )
    return f"""
        WITH hits AS ({' UNION ALL '.join(branches)}),
        page AS (
            SELECT h.* FROM hits h
            ORDER BY h.rank DESC, h.id DESC
            LIMIT :limit
        )
        SELECT page.type, page.id, page.shown, page.title, page.category,
               coalesce(page.tags, '{{}}'::text[]) AS tags, page.created_at, page.rank,
               CASE WHEN page.shown THEN ts_headline('english'::regconfig, {_SNIPPET_SOURCE},
                                                     {TSQUERY}, :headline) END AS snippet,
               {AUTHOR_COLUMNS}
        FROM page LEFT JOIN public.users u ON u.id = page.author_id
        ORDER BY page.rank DESC, page.id DESC
    """


# Users: 3 = the username itself, 2 = a username starting with the query,
# 1 = every word of the query starts a word of the full name. Inactive
# (deactivated or banned) accounts are not offered. :username is the query in
# lower case (usernames are stored so) and :prefix the same with LIKE
# wildcards escaped and "%" appended: both are plain parameters, so the
# planner can use idx_users_username_prefix; the words go through the GIN
# index idx_users_full_name_search.
USERS_SQL_TEMPLATE = """
    WITH hits AS (
        SELECT u.id, u.username, u.full_name, u.avatar_url,
               CASE WHEN u.username = :username THEN 3
                    WHEN u.username LIKE :prefix THEN 2
                    ELSE 1 END::float8 AS rank
        FROM public.users u
        WHERE u.is_active
          AND u.id <> ALL ((SELECT public.block_wall())::uuid[])  -- nobody across a block (0025)
          AND public.profile_visible(u.id)  -- nor a profile hidden from anonymous callers (0028)
          AND (u.username LIKE :prefix
               OR to_tsvector('simple'::regconfig, u.full_name::text) @@ (
                   SELECT to_tsquery('simple'::regconfig, string_agg(quote_literal(w) || ':*', ' & '))
                   FROM regexp_split_to_table(lower(:q), '[^[:alnum:]]+') AS w
                   WHERE w <> ''))
    )
    SELECT h.* FROM hits h
    {cursor}
    ORDER BY h.rank DESC, h.username ASC
    LIMIT :limit
"""


def like_prefix(text: str) -> str:
    """``text`` as a LIKE pattern matching strings that start with it (backslash escapes)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def users_sql(*, after: bool) -> str:
    """Binds :q, :username, :prefix, :limit, and :c_rank, :c_username with ``after``."""
    cursor = (
        "WHERE h.rank < :c_rank OR (h.rank = :c_rank AND h.username > :c_username)" if after else ""
    )
    return USERS_SQL_TEMPLATE.format(cursor=cursor)


# ---------------------------------------------------------------- hot reads
# The same statements as Page[SearchHit] built by PostgreSQL (focushub.core.jsonsql).

_CONTENT_HIT_JSON = (
    "json_build_object('type', r.type, 'id', r.id, 'title', r.title, 'snippet', r.snippet,"
    f" 'rank', r.rank, 'author', {author_json('r')}, 'category', r.category, 'tags', r.tags,"
    f" 'created_at', {json_time('r.created_at')})"
)
_USER_HIT_JSON = (
    "json_build_object('id', r.id, 'username', r.username, 'full_name', r.full_name,"
    " 'avatar_url', r.avatar_url, 'type', 'user', 'rank', r.rank)"
)


def content_page_json(*, types: list[str]) -> str:
    """:func:`content_sql` as a page (keys: rank, id); binds :page_size as well."""
    return _content_page_json(tuple(types))


@lru_cache(maxsize=8)  # one per set of types, built once
def _content_page_json(types: tuple[str, ...]) -> str:
    return json_page_sql(content_sql(types=list(types)), item=_CONTENT_HIT_JSON,
                         order="r.rank DESC, r.id DESC", keys=("r.rank", "r.id"), shown="r.shown")


@lru_cache(maxsize=2)
def users_page_json(*, after: bool) -> str:
    """:func:`users_sql` as a page (keys: rank, username); binds :page_size as well."""
    return json_page_sql(users_sql(after=after), item=_USER_HIT_JSON,
                         order="r.rank DESC, r.username ASC", keys=("r.rank", "r.username"))
