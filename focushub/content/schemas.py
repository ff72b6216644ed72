"""Schemas embedded by several domains: a user's public summary and a vote.

They live here, not in one of the domains that use them, so that posts,
comments, questions, answers, votes, feed, search, follows and chat depend on
this small module rather than on each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from uuid import UUID

from focushub.core.schemas import OutputModel

VoteType = Literal["upvote", "downvote"]


class UserSummary(OutputModel):
    """The public face of a user embedded in other things: authors, followers, search hits."""

    id: UUID
    username: str
    full_name: str
    avatar_url: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prefix: str = "author_") -> UserSummary:
        """Build from a row whose user columns carry ``prefix`` (``author_id``, ``author_username``…),
        such as the columns of :data:`focushub.content.sql.AUTHOR_COLUMNS`."""
        return cls(
            id=row[f"{prefix}id"],
            username=row[f"{prefix}username"],
            full_name=row[f"{prefix}full_name"],
            avatar_url=row[f"{prefix}avatar_url"],
        )
