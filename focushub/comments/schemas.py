"""Comments on the wire. Content limits match comments_content_length (0003)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from focushub.content.fields import not_blank
from focushub.content.schemas import UserSummary, VoteType
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import InputModel, OutputModel

MAX_COMMENT_LENGTH = 5_000

CommentContent = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_COMMENT_LENGTH), AfterValidator(not_blank)
]


class CommentCreate(InputModel):
    content: CommentContent
    parent_id: UUID | None = Field(
        default=None, description="The comment this one replies to; it must be on the same post"
    )


class CommentUpdate(InputModel):
    """Only the text of a comment changes; it never moves to another post or parent."""

    content: CommentContent


class CommentRead(OutputModel):
    id: UUID
    post_id: UUID
    parent_id: UUID | None
    author: UserSummary
    content: str
    likes_count: int = Field(description="Likes of this comment (it takes upvotes only)")
    replies_count: int = Field(description="Direct replies, shown or not")
    created_at: datetime
    updated_at: datetime
    my_vote: VoteType | None
    replies: list[CommentRead] = Field(
        default_factory=list,
        description="The first direct replies, oldest first, within the tree's depth",
    )
    more_replies: int = Field(
        description="Direct replies not shown in `replies`; fetch them with GET /comments/{id}/replies"
    )


class CommentListParams(BaseModel):
    cursor: Cursor = None
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="top-level comments per page"
    )
