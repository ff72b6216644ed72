"""Search: posts, questions and resources by full text, users by name.

Only what the caller may see is ever read: the statements run under RLS, so
other people's drafts and private resources never match (a caller's own do).
Snippets come from ``ts_headline`` with plain « » markers, never HTML. Each
page is two statements: the role switch and one query. Ranking is described
in ``focushub/search/queries.py``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from focushub.content.schemas import UserSummary
from focushub.core.db import Caller
from focushub.core.jsonsql import page_json
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.search import queries
from focushub.search.schemas import ContentHit, SearchHit, SearchParams, UserHit

_CONTENT_TYPES = ["post", "question", "resource"]


def _content_hit(row: Mapping[str, Any]) -> ContentHit:
    return ContentHit(
        type=row["type"],
        id=row["id"],
        title=row["title"],
        snippet=row["snippet"],
        rank=row["rank"],
        author=UserSummary.from_row(row),
        category=row["category"],
        tags=list(row["tags"]),
        created_at=row["created_at"],
    )


def _bind(params: SearchParams) -> dict[str, Any]:
    """The parameters of the statement for ``params`` (the cursor decoded)."""
    after = params.cursor is not None
    bind: dict[str, Any] = {"q": params.q, "limit": params.limit + 1}
    if params.type == "user":
        if after:
            bind["c_rank"], bind["c_username"] = decode_cursor(params.cursor, (float, str))
        bind["username"] = params.q.lower()
        bind["prefix"] = queries.like_prefix(params.q.lower())
    else:
        bind["c_rank"], bind["c_id"] = (
            decode_cursor(params.cursor, (float, UUID)) if after else (None, None)
        )
        bind["category"] = params.category.strip() if params.category is not None else None
        # Tags are stored normalised (NFKC, trimmed, lower case).
        bind["tag"] = (
            unicodedata.normalize("NFKC", params.tag).strip().lower()
            if params.tag is not None else None
        )
        bind["headline"] = queries.HEADLINE_OPTIONS
    return bind


def _types(params: SearchParams) -> list[str]:
    return [params.type] if params.type else _CONTENT_TYPES


async def search_json(rt: Runtime, caller: Caller, params: SearchParams) -> bytes:
    """The body of :func:`search`'s ``Page[SearchHit]``, built by PostgreSQL (a hot read,
    for the API)."""
    bind = _bind(params)
    sql = (queries.users_page_json(after=params.cursor is not None) if params.type == "user"
           else queries.content_page_json(types=_types(params)))
    async with rt.direct_transaction(caller) as tx:
        row = await tx.one(sql, **bind, page_size=params.limit)
    return page_json(row, 2)


async def search(rt: Runtime, caller: Caller, params: SearchParams) -> Page[SearchHit]:
    """A page of hits as objects (the web pages); the API sends :func:`search_json`."""
    bind = _bind(params)
    if params.type == "user":
        sql = queries.users_sql(after=params.cursor is not None)

        def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
            return (r["rank"], r["username"])
    else:
        sql = queries.content_sql(types=_types(params))

        def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
            return (r["rank"], r["id"])

    async with rt.transaction(caller) as tx:
        rows = await tx.all(sql, **bind)
    page, next_cursor = page_of(rows, params.limit, key)
    items: list[ContentHit | UserHit]
    if params.type == "user":
        items = [UserHit(type="user", **dict(r)) for r in page]
    else:
        # A match held back by the table's policies keeps its place in the page (and so in
        # the cursor) but is not an item (queries.content_sql).
        items = [_content_hit(r) for r in page if r["shown"]]
    return Page[SearchHit](items=items, next_cursor=next_cursor)
