"""Users on the wire: public profiles and the caller's own account.

The summary that other things embed (an author, a follower, a chat peer) is
``UserSummary`` in ``focushub.content.schemas``, shared by every domain that embeds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AnyHttpUrl, Field, field_validator

from focushub.core.schemas import FullName, InputModel, OutputModel, Username

UserRole = Literal["student", "educator", "admin"]


class UserRead(OutputModel):
    """A public profile: what anyone may see."""

    id: UUID
    username: str
    full_name: str
    avatar_url: str | None
    bio: str | None
    role: UserRole
    is_verified: bool
    created_at: datetime


class UserProfile(UserRead):
    """A profile page's data: the person and the counts of what the caller may see."""

    followers_count: int
    following_count: int
    posts_count: int = Field(description="Published posts")
    questions_count: int
    answers_count: int
    is_following: bool | None = Field(description="Whether the caller follows them; "
                                                   "null when not signed in")


class UserMe(UserRead):
    """The caller's own account, with what only they may see."""

    email: str
    is_active: bool
    last_login: datetime | None
    updated_at: datetime


class UserUpdate(InputModel):
    full_name: FullName | None = None
    username: Username | None = None
    bio: str | None = Field(default=None, max_length=2000)
    avatar_url: AnyHttpUrl | None = Field(default=None)

    @field_validator("avatar_url")
    @classmethod
    def _short_url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and len(str(value)) > 2048:
            raise ValueError("URL too long")
        return value
