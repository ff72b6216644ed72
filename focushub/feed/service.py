"""The feed: published posts and questions in one list, three ways.

* ``following``: by the people the caller follows, newest first (signed-in only).
* ``latest``: everything the caller can see, newest first.
* ``trending``: by the stored ``trending_score`` (migration 0010):

      score = round(sign(s) * log10(max(|s|, 1)), 1) + seconds since 2025-01-01 / 72000
      s = votes + 2 * replies

  where ``votes`` is the net score (a post's ``likes_count``, a question's
  ``votes_count``) and ``replies`` is ``comments_count`` or ``answers_count``.
  Every tenfold of activity is worth 20 hours of recency (in steps of
  2 hours: the activity term is rounded to tenths, see migration 0010). The score of an
  item does not change as time passes, so it is indexed and a page reads one
  index range, and items do not reorder between pages while a client pages.
  (Votes cast between two pages can still move an item; the keyset on
  (score, id) then neither repeats nor crashes, it simply reflects the new
  score.)

RLS decides what is visible (others' drafts never are); the feed itself shows
only published posts, so a caller's own drafts stay out of it too. Every page
is two statements: the role switch and one query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from focushub.content.schemas import UserSummary
from focushub.core.db import Caller
from focushub.core.errors import Unauthorized
from focushub.core.jsonsql import page_json
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.feed.queries import feed_page_json, feed_sql
from focushub.feed.schemas import FeedItemRead, FeedParams


def _item(row: Mapping[str, Any]) -> FeedItemRead:
    return FeedItemRead(
        type=row["type"],
        id=row["id"],
        title=row["title"],
        excerpt=row["excerpt"],
        author=UserSummary.from_row(row),
        category=row["category"],
        tags=list(row["tags"]),
        created_at=row["created_at"],
        votes_count=row["votes_count"],
        replies_count=row["replies_count"],
        score=row["score"],
        my_vote=row["my_vote"],
    )


def _bind(caller: Caller, params: FeedParams) -> dict[str, Any]:
    if params.scope == "following" and not caller.is_authenticated:
        raise Unauthorized("Sign in to see the people you follow", code="not_authenticated")
    bind: dict[str, Any] = {"limit": params.limit + 1}
    if params.cursor is not None:
        if params.scope == "trending":
            bind["c_score"], bind["c_id"] = decode_cursor(params.cursor, (float, UUID))
        else:
            bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
    return bind


async def get_feed_json(rt: Runtime, caller: Caller, params: FeedParams) -> bytes:
    """The body of ``Page[FeedItemRead]``, built by PostgreSQL (a hot read): what
    :func:`get_feed` returns, for the API."""
    bind = _bind(caller, params)
    sql = feed_page_json(scope=params.scope, after=params.cursor is not None,
                         authenticated=caller.is_authenticated)
    async with rt.direct_transaction(caller) as tx:
        row = await tx.one(sql, **bind, page_size=params.limit)
    return page_json(row, 2)


async def get_feed(rt: Runtime, caller: Caller, params: FeedParams) -> Page[FeedItemRead]:
    """A page of the feed as objects (the web pages); the API sends :func:`get_feed_json`."""
    bind = _bind(caller, params)
    after = params.cursor is not None
    if params.scope == "trending":
        def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
            return (r["score"], r["id"])
    else:
        def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
            return (r["created_at"], r["id"])

    sql = feed_sql(scope=params.scope, after=after, authenticated=caller.is_authenticated)
    async with rt.transaction(caller) as tx:
        rows = await tx.all(sql, **bind)
    page, next_cursor = page_of(rows, params.limit, key)
    return Page[FeedItemRead](items=[_item(r) for r in page], next_cursor=next_cursor)
