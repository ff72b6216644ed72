from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, Field, field_validator

from focushub.core.schemas import FullName, InputModel, OutputModel, Username

UserRole = Literal["student", "educator", "admin"]


class UserSummary(OutputModel):
    """The public face of a user embedded in other things: authors, followers, search hits."""

    id: UUID
    username: str
    full_name: str
    avatar_url: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prefix: str = "author_") -> UserSummary:
        """Build from a row whose user columns carry ``prefix`` (``author_id``, ``author_username``…)."""
        return cls(
            id=row[f"{prefix}id"],
            username=row[f"{prefix}username"],
            full_name=row[f"{prefix}full_name"],
            avatar_url=row[f"{prefix}avatar_url"],
        )


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
