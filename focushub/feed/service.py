"""The feed: published posts and questions in one list, three ways.

* ``following``: by the people the caller follows, newest first (signed-in only).
* ``latest``: everything the caller can see, newest first.
* ``trending``: items of the 7 days before ``as_of`` ranked by

      score = (votes + 2 * replies + 1) / (age_hours + 2) ^ 1.5

  where ``votes`` is the net score (a post's ``likes_count``, a question's
  ``votes_count``), ``replies`` is ``comments_count`` or ``answers_count``, and
  ``age_hours`` is the item's age at the instant ``as_of``. A first page takes
  ``as_of = now()`` and every later page reuses it from the cursor, so time
  does not reorder items between pages and new items do not push in. (Votes
  cast between two pages can still move an item; the keyset on (score, id)
  then neither repeats nor crashes, it simply reflects the new score.)
  The 7-day window bounds the rows scored per page; it hides little: at 7
  days the divisor is about 2,250 against 2.8 for a new item, so an older
  item would need some 800 votes to outrank a new one without any.

RLS decides what is visible (others' drafts never are); the feed itself shows
only published posts, so a caller's own drafts stay out of it too. Every page
is two statements: the role switch and one query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.db import Caller, transaction
from focushub.core.errors import Unauthorized
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.feed.queries import TRENDING_WINDOW, feed_sql
from focushub.feed.schemas import FeedItemRead, FeedParams
from focushub.users.schemas import UserSummary


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


async def get_feed(engine: AsyncEngine, caller: Caller, params: FeedParams) -> Page[FeedItemRead]:
    if params.scope == "following" and not caller.is_authenticated:
        raise Unauthorized("Sign in to see the people you follow", code="not_authenticated")
    bind: dict[str, Any] = {"limit": params.limit + 1, "as_of": datetime.now(UTC)}
    after = params.cursor is not None
    if params.scope == "trending":
        if after:
            bind["as_of"], bind["c_score"], bind["c_id"] = decode_cursor(
                params.cursor, (datetime, float, UUID)
            )
        bind["window_start"] = bind["as_of"] - TRENDING_WINDOW

        def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
            return (r["as_of"], r["score"], r["id"])
    else:
        if after:
            bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))

        def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
            return (r["created_at"], r["id"])

    sql = feed_sql(scope=params.scope, after=after, authenticated=caller.is_authenticated)
    async with transaction(engine, caller) as tx:
        rows = await tx.all(sql, **bind)
    page, next_cursor = page_of(rows, params.limit, key)
    return Page[FeedItemRead](items=[_item(r) for r in page], next_cursor=next_cursor)
