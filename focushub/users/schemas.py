"""Users on the wire: public profiles and the caller's own account.

The summary that other things embed (an author, a follower, a chat peer) is
``UserSummary`` in ``focushub.content.schemas``, shared by every domain that embeds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, StrictBool, model_validator

from focushub.core.schemas import ChangeModel, FullName, InputModel, OutputModel, Username

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
    public_email: str | None = Field(description="Their email, only if they chose to show it")


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
    avatar_url: str | None = Field(
        default=None, max_length=200,
        description="null removes the picture. A picture is uploaded with PUT "
                    "/users/me/avatar, which sets this; no other address is accepted (the "
                    "account's own current one, sent back unchanged, is).")


ProfileVisibility = Literal["everyone", "signed_in"]
DmFrom = Literal["everyone", "following"]


class PrivacyRead(OutputModel):
    profile_visibility: ProfileVisibility = Field(
        description="signed_in: anonymous visitors do not find the profile")
    show_email: bool = Field(description="Show the email on the profile")
    dm_from: DmFrom = Field(description="following: only people you follow may start a chat "
                                        "with you or add you to a group")


class PrivacyUpdate(ChangeModel):
    profile_visibility: ProfileVisibility | None = None
    show_email: StrictBool | None = None
    dm_from: DmFrom | None = None

    @model_validator(mode="after")
    def _meaningful(self) -> PrivacyUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one setting to change")
        return self
