"""Posts: write, read, list and delete; what a caller sees is decided by RLS.

Policies (0002/0003): anyone reads published posts, authors also read their
drafts; authors update and delete their own posts; admins delete any post they
can see. A post the caller cannot see is a 404; one they can see but may not
change is a 403. Each request is one transaction with a fixed number of
statements: the role switch, then one statement (two when a write matched no
row and we must tell 404 from 403).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

from focushub.content.fields import normalize_tag
from focushub.content.schemas import UserSummary
from focushub.content.sql import author_params
from focushub.core.db import Caller, Tx
from focushub.core.errors import BadRequest, Forbidden, NotFound
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.posts import queries
from focushub.posts.schemas import (
    PostCreate,
    PostListParams,
    PostRead,
    PostUpdate,
)
from focushub.safety import limits

_UPDATABLE = ("title", "content", "category", "tags", "is_published")
# What likes_count (an integer column) holds: a cursor's score outside it is no position.
_COUNTER = range(-(2**31), 2**31)


def share_url(base_url: str, post_id: UUID) -> str:
    """The absolute link a user shares; it resolves to this post through the API."""
    return f"{base_url.rstrip('/')}/api/v1/posts/{post_id}"


def post_from_row(row: Mapping[str, Any], base_url: str) -> PostRead:
    """Build a ``PostRead`` from a row of ``queries.select_posts``."""
    return PostRead(
        id=row["id"],
        author=UserSummary.from_row(row),
        title=row["title"],
        content=row["content"],
        category=row["category"],
        tags=list(row["tags"]),
        is_published=row["is_published"],
        likes_count=row["likes_count"],
        comments_count=row["comments_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        my_vote=row["my_vote"],
        share_url=share_url(base_url, row["id"]),
    )


async def _refuse_write(tx: Tx, post_id: UUID) -> NoReturn:
    """Raise why a write on ``post_id`` matched no row: not visible (404) or not yours (403)."""
    mine = await tx.scalar(queries.VISIBLE_POST, id=post_id)
    if mine is None:
        raise NotFound("There is no post with this id", code="post_not_found")
    raise Forbidden("Only the author can change this post", code="not_post_author")


async def create_post(
    rt: Runtime, caller: Caller, data: PostCreate
) -> PostRead:
    await limits.check_write(rt, caller, "post", text=data.content)
    async with rt.transaction(caller) as tx:
        row = await tx.one(
            f"WITH p AS ({queries.INSERT_POST}) "
            + queries.select_posts(caller.is_authenticated, source="p"),
            title=data.title,
            content=data.content,
            category=data.category,
            tags=data.tags,
            is_published=data.is_published,
        )
    return post_from_row(row, rt.settings.public_base_url)


async def get_post(rt: Runtime, caller: Caller, post_id: UUID) -> PostRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            queries.select_posts(caller.is_authenticated) + " WHERE p.id = :id", id=post_id
        )
    if row is None:
        raise NotFound("There is no post with this id", code="post_not_found")
    return post_from_row(row, rt.settings.public_base_url)


async def update_post(
    rt: Runtime, caller: Caller, post_id: UUID, data: PostUpdate
) -> PostRead:
    """Precondition: ``data`` sets at least one field (PostUpdate refuses an empty body)."""
    changes = data.model_dump(exclude_unset=True)
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []  # "no tags" is stored one way only
    assignments = ", ".join(f"{col} = :{col}" for col in _UPDATABLE if col in changes)
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            f"WITH p AS (UPDATE posts SET {assignments} WHERE id = :id RETURNING {queries.RETURNING}) "
            + queries.select_posts(caller.is_authenticated, source="p"),
            id=post_id,
            **changes,
        )
        if row is None:
            await _refuse_write(tx, post_id)
        if "content" in changes:  # after the update, so 404 and 403 come first; undone if refused
            await limits.check_mentions(rt, tx, "post", changes["content"])
    return post_from_row(row, rt.settings.public_base_url)


async def delete_post(rt: Runtime, caller: Caller, post_id: UUID) -> None:
    """Delete the post; its comments go by cascade, its votes and theirs by trigger (0003)."""
    async with rt.transaction(caller) as tx:
        deleted = await tx.scalar(queries.DELETE_POST, id=post_id)
        if deleted is None:
            await _refuse_write(tx, post_id)


async def list_posts(
    rt: Runtime, caller: Caller, params: PostListParams
) -> Page[PostRead]:
    """One page in keyset order. Scores change while someone pages through ``top``;
    a post whose score moved across the cursor may then be seen twice or not at all."""
    order_by, after_cursor = queries.ORDERS[params.sort]
    where = [queries.FILTER_MY_DRAFTS if params.drafts else queries.FILTER_PUBLISHED]
    bind: dict[str, Any] = {"limit": params.limit + 1}
    if params.category is not None:
        where.append(queries.FILTER_CATEGORY)
        bind["category"] = params.category.strip()
    if params.tag is not None:
        where.append(queries.FILTER_TAG)
        bind["tag"] = normalize_tag(params.tag)
    if params.author is not None:
        fragment, values = queries.FILTER_AUTHOR, author_params(params.author)
        where.append(fragment)
        bind.update(values)
    if params.cursor is not None:
        where.append(after_cursor)
        if params.sort == "top":
            bind["c_likes"], bind["c_created_at"], bind["c_id"] = decode_cursor(
                params.cursor, (int, datetime, UUID)
            )
            if bind["c_likes"] not in _COUNTER:
                raise BadRequest("The cursor is invalid", code="invalid_cursor")
        else:
            bind["c_created_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))

    sql = (
        queries.select_posts(caller.is_authenticated)
        + " WHERE "
        + " AND ".join(where)
        + f" ORDER BY {order_by} LIMIT :limit"
    )
    async with rt.transaction(caller) as tx:
        rows = await tx.all(sql, **bind)

    def key(row: Mapping[str, Any]) -> list[Any]:
        if params.sort == "top":
            return [row["likes_count"], row["created_at"], row["id"]]
        return [row["created_at"], row["id"]]

    page, next_cursor = page_of(rows, params.limit, key)
    return Page[PostRead](items=[post_from_row(r, rt.settings.public_base_url) for r in page], next_cursor=next_cursor)
