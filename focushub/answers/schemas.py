"""Answers: what a client sends and what it gets back.

Content limits match the database (answers_content_length, 0003): 1..20,000
characters and not blank, stored exactly as written (Markdown). ``AnswerRead``
is also what a question's page embeds (``focushub.questions.schemas``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from focushub.content.fields import not_blank
from focushub.content.schemas import UserSummary, VoteType
from focushub.core.schemas import InputModel, OutputModel

MAX_CONTENT_LENGTH = 20_000


Content = Annotated[
    str, Field(min_length=1, max_length=MAX_CONTENT_LENGTH), AfterValidator(not_blank)
]


class AnswerCreate(InputModel):
    content: Content


class AnswerUpdate(InputModel):
    content: Content | None = None

    @model_validator(mode="after")
    def _content_given(self) -> AnswerUpdate:
        if self.content is None:
            raise ValueError("give the new content")
        return self


class AnswerRead(OutputModel):
    id: UUID
    question_id: UUID
    content: str
    is_accepted: bool
    votes_count: int
    author: UserSummary
    my_vote: VoteType | None
    created_at: datetime
    updated_at: datetime
