"""Questions: what a client sends and what it gets back.

Limits match the database (0002/0003): title VARCHAR(255) and not blank,
content 1..20,000 characters and not blank, category VARCHAR(50), at most 10
tags. Tags follow the rules of every content type (``content.fields``: NFKC, trimmed,
lower case, letters and digits of any script with - _ + # ., duplicates dropped in order
of first appearance), so "c++" tags a question as it tags a post.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from focushub.ai.schemas import AIAnswerRead
from focushub.answers.schemas import AnswerRead
from focushub.content.fields import Tags, checked_tag, no_nul, not_blank
from focushub.content.schemas import UserSummary, VoteType
from focushub.core.schemas import ChangeModel, InputModel, OutputModel

QuestionStatus = Literal["open", "answered", "closed"]
QuestionView = Literal["newest", "unanswered", "trending"]

MAX_CONTENT_LENGTH = 20_000

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
                  AfterValidator(no_nul)]
# Content is stored exactly as written (Markdown): no stripping, only a blank check.
Content = Annotated[
    str, Field(min_length=1, max_length=MAX_CONTENT_LENGTH), AfterValidator(not_blank)
]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
                     AfterValidator(no_nul)]


class QuestionCreate(InputModel):
    title: Title
    content: Content
    category: Category | None = None
    tags: Tags = Field(default_factory=list)


class QuestionUpdate(ChangeModel):
    """Content columns only; status moves through close/reopen and accepting answers."""

    title: Title | None = None
    content: Content | None = None
    category: Category | None = None
    tags: Tags | None = None

    @model_validator(mode="after")
    def _something_and_no_null_text(self) -> QuestionUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for required in ("title", "content"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        return self


class _QuestionFields(OutputModel):
    """What a question shows in lists and on its page alike."""

    id: UUID
    title: str
    category: str | None
    tags: list[str]
    status: QuestionStatus
    votes_count: int
    answers_count: int
    views_count: int
    has_accepted_answer: bool
    author: UserSummary
    my_vote: VoteType | None
    created_at: datetime
    updated_at: datetime


class QuestionSummary(_QuestionFields):
    """A list item: the question without its full text (``excerpt`` is its first 300 characters)."""

    excerpt: str


class QuestionRead(_QuestionFields):
    content: str


class QuestionDetail(QuestionRead):
    """One question with its first page of answers (accepted first, then by votes, then
    oldest first); ``answers_next_cursor`` continues at GET /questions/{id}/answers."""

    answers: list[AnswerRead]
    answers_next_cursor: str | None
    ai_answers: list[AIAnswerRead]


class SimilarQuestion(OutputModel):
    id: UUID
    title: str
    status: QuestionStatus
    answers_count: int
    has_accepted_answer: bool


class SimilarQuestions(OutputModel):
    items: list[SimilarQuestion]


def normalize_tag(value: str) -> str:
    """A list filter's tag in its stored form; ValueError when it is not a tag."""
    return checked_tag(value)
