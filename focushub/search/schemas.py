"""Search on the wire: content hits (posts, questions, resources) and user hits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from focushub.content.schemas import UserSummary
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import OutputModel

SearchType = Literal["post", "question", "resource", "user"]
MAX_QUERY_LENGTH = 200

# Around the matched words in a snippet: plain characters, never markup, so a
# client that renders the snippet as HTML cannot be made to run anything.
HIGHLIGHT_START = "«"
HIGHLIGHT_STOP = "»"


class ContentHit(OutputModel):
    type: Literal["post", "question", "resource"]
    id: UUID
    title: str
    snippet: str = Field(
        description=f"Text around the matches, each match between {HIGHLIGHT_START} and {HIGHLIGHT_STOP}"
        " (the text's own « and » are shown as ‹ and ›)"
    )
    rank: float = Field(description="Higher is better; a title match always ranks above body-only matches")
    author: UserSummary
    category: str | None
    tags: list[str]
    created_at: datetime


class UserHit(UserSummary):
    type: Literal["user"]
    rank: float = Field(description="3: exact username, 2: username prefix, 1: name words")


SearchHit = Annotated[ContentHit | UserHit, Field(discriminator="type")]


class SearchParams(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY_LENGTH, description="Words, \"phrases\", -excluded, or")
    type: SearchType | None = Field(default=None, description="Default: posts, questions and resources")
    category: str | None = Field(default=None, min_length=1, max_length=50)
    tag: str | None = Field(default=None, min_length=1, max_length=30)
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _filters_fit_the_type(self) -> SearchParams:
        if self.type == "user" and (self.category is not None or self.tag is not None):
            raise ValueError("category and tag filter content, not users")
        return self
