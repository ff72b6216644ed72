"""Votes on the wire: cast one, and what the target's score is afterwards."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from focushub.content.schemas import VoteType
from focushub.core.schemas import InputModel, OutputModel

VotableType = Literal["post", "comment", "question", "answer"]


class VoteCreate(InputModel):
    vote_type: VoteType


class VoteRead(OutputModel):
    votable_type: VotableType
    votable_id: UUID
    count: int = Field(
        description="The target's score after this request: the likes of a post or comment "
        "(likes_count), the net score of a question or answer (votes_count: upvotes minus "
        "downvotes)"
    )
    my_vote: VoteType | None = Field(description="The caller's vote now; null after a withdrawal")
