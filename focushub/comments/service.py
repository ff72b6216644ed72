"""Threaded comments: a bounded tree per page, writes by their authors only.

Policies (0002/0003): a comment is visible when its post is (so comments of a
draft exist only for the draft's author); anyone signed in comments as
themselves on a post they can see; authors edit and delete their own; admins
delete any. Deleting a comment deletes its replies (FK cascade); the post's
comments_count and the parent's replies_count follow by trigger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

from focushub.comments import queries
from focushub.comments.schemas import (
    CommentCreate,
    CommentListParams,
    CommentRead,
    CommentUpdate,
)
from focushub.content.schemas import UserSummary
from focushub.core.db import Caller, Tx
from focushub.core.errors import Forbidden, NotFound
from focushub.core.pagination import Page, decode_cursor, encode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.safety import limits

# Shape of the tree a listing returns: the page's comments (level 1) and two
# levels of replies under them, at most REPLIES_PER_NODE per comment. Deeper or
# further replies are announced by `more_replies` and read with
# GET /comments/{id}/replies, which returns the same shape one level down.
TREE_DEPTH = 3
REPLIES_PER_NODE = 3


def _comment_from_row(row: Mapping[str, Any]) -> CommentRead:
    return CommentRead(
        id=row["id"],
        post_id=row["post_id"],
        parent_id=row["parent_id"],
        author=UserSummary.from_row(row),
        content=row["content"],
        likes_count=row["likes_count"],
        replies_count=row["replies_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        my_vote=row["my_vote"],
        replies=[],
        more_replies=row["replies_count"],
    )


def _build_forest(rows: list[Mapping[str, Any]], root_ids: set[UUID]) -> list[CommentRead]:
    """Nest rows (parents before replies) under the given roots, in row order.

    A node's ``more_replies`` starts from its ``replies_count``, which counts every reply,
    also those the caller may not see (hidden by a moderator, across a block). Where the
    tree read a node's replies (above its last level) and found fewer than it asks for,
    it has them all: none is left to announce, whatever the counter says."""
    nodes: dict[UUID, CommentRead] = {}
    roots: list[CommentRead] = []
    read_below: list[CommentRead] = []
    for row in rows:
        node = _comment_from_row(row)
        nodes[node.id] = node
        if row["depth"] < TREE_DEPTH:
            read_below.append(node)
        if node.id in root_ids:
            roots.append(node)
            continue
        parent = nodes.get(row["parent_id"])
        if parent is not None:  # None: under a root fetched only to know a next page exists
            parent.replies.append(node)
            parent.more_replies -= 1
    for node in read_below:
        if len(node.replies) < REPLIES_PER_NODE:
            node.more_replies = 0
    return roots


async def _tree_page(
    tx: Tx,
    caller: Caller,
    roots: tuple[str, str],
    bind: dict[str, Any],
    params: CommentListParams,
) -> Page[CommentRead]:
    """One page of roots with their bounded subtrees; one statement."""
    bind = {
        **bind,
        "limit": params.limit + 1,
        "per_node": REPLIES_PER_NODE,
        "max_depth": TREE_DEPTH,
    }
    if params.cursor is not None:
        bind["c_created_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
    rows = await tx.all(
        queries.comment_tree(caller.is_authenticated, roots, params.cursor is not None), **bind
    )
    # Depth-1 rows are the roots in keyset order; one more than the page was
    # fetched to learn whether a next page exists, and is left out with its subtree.
    page, next_cursor = page_of(
        [r for r in rows if r["depth"] == 1], params.limit, lambda r: [r["created_at"], r["id"]]
    )
    items = _build_forest(rows, {r["id"] for r in page})
    return Page[CommentRead](items=items, next_cursor=next_cursor)


async def list_post_comments(
    rt: Runtime, caller: Caller, post_id: UUID, params: CommentListParams
) -> Page[CommentRead]:
    """Top-level comments of a post, oldest first, each with its bounded reply tree."""
    async with rt.transaction(caller) as tx:
        if await tx.scalar(queries.VISIBLE_POST, post_id=post_id) is None:
            raise NotFound("There is no post with this id", code="post_not_found")
        return await _tree_page(tx, caller, queries.ROOTS_OF_POST, {"post_id": post_id}, params)


async def cursor_to_comment(
    rt: Runtime, caller: Caller, post_id: UUID, comment_id: UUID
) -> str | None:
    """The cursor of the page of the post's comments that begins with the top-level comment
    ``comment_id`` sits under (itself, or the one it replies to, however deep): one query
    instead of walking pages. None when that comment is the first (the first page holds
    it) or ``comment_id`` is no visible comment of the post. The cursor is bound to the
    current request's path, as those of ``list_post_comments`` are."""
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.ROOT_AND_PREVIOUS, post_id=post_id,
                                   comment_id=comment_id)
    if row is None or row["before_id"] is None:
        return None
    return encode_cursor([row["before_created_at"], row["before_id"]])


async def list_replies(
    rt: Runtime, caller: Caller, comment_id: UUID, params: CommentListParams
) -> Page[CommentRead]:
    """Direct replies of a comment, oldest first, each with its bounded reply tree."""
    async with rt.transaction(caller) as tx:
        if await tx.scalar(queries.VISIBLE_COMMENT, id=comment_id) is None:
            raise NotFound("There is no comment with this id", code="comment_not_found")
        return await _tree_page(
            tx, caller, queries.ROOTS_UNDER_COMMENT, {"parent_id": comment_id}, params
        )


async def create_comment(
    rt: Runtime, caller: Caller, post_id: UUID, data: CommentCreate
) -> CommentRead:
    await limits.check_write(rt, caller, "comment", text=data.content)
    async with rt.direct_transaction(caller) as tx:  # a hot path (CONTRIBUTING.md)
        row = await tx.one_or_none(
            f"WITH c AS ({queries.INSERT_COMMENT}) "
            + queries.select_comments(caller.is_authenticated, source="c"),
            post_id=post_id,
            parent_id=data.parent_id,
            content=data.content,
        )
        if row is None and data.parent_id is not None \
                and await tx.scalar(queries.VISIBLE_POST, post_id=post_id) is not None:
            raise NotFound("There is no comment with this id to reply to",
                           code="comment_not_found")
    if row is None:
        raise NotFound("There is no post with this id", code="post_not_found")
    return _comment_from_row(row)


async def _refuse_write(tx: Tx, comment_id: UUID) -> NoReturn:
    """Raise why a write on ``comment_id`` matched no row: not visible (404) or not yours (403)."""
    if await tx.scalar(queries.VISIBLE_COMMENT, id=comment_id) is None:
        raise NotFound("There is no comment with this id", code="comment_not_found")
    raise Forbidden("Only the author can change this comment", code="not_comment_author")


async def update_comment(
    rt: Runtime, caller: Caller, comment_id: UUID, data: CommentUpdate
) -> CommentRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            f"WITH c AS ({queries.UPDATE_COMMENT}) "
            + queries.select_comments(caller.is_authenticated, source="c"),
            id=comment_id,
            content=data.content,
        )
        if row is None:
            await _refuse_write(tx, comment_id)
        # After the update, so 404 and 403 come first; a refusal undoes it.
        await limits.check_mentions(rt, tx, "comment", data.content)
    return _comment_from_row(row)


async def delete_comment(rt: Runtime, caller: Caller, comment_id: UUID) -> None:
    """Delete the comment and, by cascade, every reply under it (and their votes)."""
    async with rt.transaction(caller) as tx:
        if await tx.scalar(queries.DELETE_COMMENT, id=comment_id) is None:
            await _refuse_write(tx, comment_id)
