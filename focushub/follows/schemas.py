"""Follows on the wire: follow state of a pair of users and the two lists of a user."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from focushub.content.schemas import UserSummary
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from focushub.core.schemas import OutputModel


class FollowState(OutputModel):
    """Whether the caller follows ``user_id``, and that user's counts."""

    user_id: UUID
    following: bool | None = Field(description="Does the caller follow this user; null when anonymous")
    followers_count: int
    following_count: int


class FollowListItem(UserSummary):
    followed_at: datetime = Field(description="When this follow began")
    followed_by_me: bool | None = Field(
        description="Does the caller follow this listed user; null when anonymous"
    )


class FollowPage(Page[FollowListItem]):
    """One page of a followers or following list, with the counts of the user it belongs to."""

    total: int = Field(description="Every follow of the list, counting people whose profile "
                                   "you may not see, who are not listed")
    followers_count: int
    following_count: int


class HiddenFollow(OutputModel):
    """One of the caller's own follows of someone whose profile they may not see (a
    deactivated account): only what the caller's account export holds of it."""

    user_id: UUID
    followed_at: datetime


class FollowListParams(BaseModel):
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
