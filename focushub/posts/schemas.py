"""Posts on the wire: what a client sends to write one and what it reads back.

Limits match the database (0002 column types, 0003 CHECKs): title 1..255,
content up to 20,000 characters and not blank, category up to 50, at most 10
tags, normalised as described in focushub/content/fields.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    model_validator,
)

from focushub.content.fields import Category, Content, Tags, Title
from focushub.content.schemas import UserSummary, VoteType
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import ChangeModel, InputModel, OutputModel


class PostCreate(InputModel):
    title: Title
    content: Content
    category: Category = None
    tags: Tags = Field(default_factory=list)
    is_published: StrictBool = True


class PostUpdate(ChangeModel):
    """Every field optional; a field that is present replaces the stored value.

    ``category: null`` and ``tags: null`` clear them; title, content and
    is_published cannot be null. An empty body is refused: there is nothing to do.
    """

    title: Title | None = None
    content: Content | None = None
    category: Category = None
    tags: Tags | None = None
    is_published: StrictBool | None = None

    @model_validator(mode="after")
    def _meaningful(self) -> PostUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in ("title", "content", "is_published"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PostRead(OutputModel):
    id: UUID
    author: UserSummary
    title: str
    content: str
    category: str | None
    tags: list[str]
    is_published: bool
    likes_count: int = Field(description="Likes of this post (it takes upvotes only)")
    comments_count: int
    created_at: datetime
    updated_at: datetime
    my_vote: VoteType | None = Field(description="The caller's vote; null when none or anonymous")
    share_url: str = Field(description="Absolute URL of this post (GET it to read the post)")


PostSort = Literal["new", "top"]


class PostListParams(BaseModel):
    """Query parameters of ``GET /posts``; filters combine with AND."""

    sort: PostSort = Field(default="new", description="new: newest first; top: highest score first")
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    category: str | None = Field(default=None, min_length=1, max_length=50)
    tag: str | None = Field(default=None, min_length=1, max_length=30)
    author: str | None = Field(
        default=None, min_length=1, max_length=50, description="author's username or user id"
    )
    drafts: bool = Field(
        default=False, description="true: the caller's own unpublished posts instead"
    )
