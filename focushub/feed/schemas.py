"""The feed on the wire: one list mixing posts and questions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from focushub.content.schemas import UserSummary, VoteType
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import OutputModel

FeedScope = Literal["following", "latest", "trending"]


class FeedItemRead(OutputModel):
    type: Literal["post", "question"]
    id: UUID
    title: str
    excerpt: str = Field(description="The start of the content, whitespace collapsed (Markdown as written)")
    author: UserSummary
    category: str | None
    tags: list[str]
    created_at: datetime
    votes_count: int = Field(description="A post's likes_count (its likes), a question's votes_count "
                             "(upvotes minus downvotes)")
    replies_count: int = Field(description="A post's comments_count, a question's answers_count")
    score: float | None = Field(description="Trending score (see GET /feed); null for other scopes")
    my_vote: VoteType | None = Field(
        description="The caller's vote; null when none or anonymous"
    )


class FeedParams(BaseModel):
    scope: FeedScope = Field(
        default="latest",
        description="following: people the caller follows, newest first; latest: everything, newest "
        "first; trending: by trending score, round(sign(s)·log10(max(|s|,1)), 1) + seconds since 2025-01-01 / 72000 "
        "with s = votes + 2 × replies",
    )
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
