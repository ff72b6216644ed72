"""Posts on the wire: what a client sends to write one and what it reads back.

Limits match the database (0002 column types, 0003 CHECKs): title 1..255,
content up to 20,000 characters and not blank, category up to 50, at most 10
tags. Tags are normalised here (NFKC, trimmed, lower case, duplicates dropped,
first occurrence wins) and must be 1..30 characters: letters and digits of any
script and ``- _ + # .``, with at least one letter or digit ("café", "数学",
"गणित", "c++", "c#", "node.js" are tags; spaces, slashes, emoji are not), so
that ``?tag=`` matches what people meant whatever case they typed.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)

from focushub.content.schemas import UserSummary, VoteType
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from focushub.core.schemas import InputModel, OutputModel

MAX_TAGS = 10
MAX_TAG_LENGTH = 30
MAX_CONTENT_LENGTH = 20_000

# Letters, combining marks (the vowel signs of Indic scripts, accents) and
# decimal digits of any script, and the punctuation of names like c++, c#,
# node.js or data-structures, are a tag's characters.
_TAG_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd"})
_TAG_PUNCTUATION = frozenset("-_+#.")


def _is_valid_tag(tag: str) -> bool:
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        return False
    categories = [unicodedata.category(ch) for ch in tag]
    return all(
        ch in _TAG_PUNCTUATION or cat in _TAG_CATEGORIES
        for ch, cat in zip(tag, categories, strict=True)
    ) and any(cat[0] in "LN" for cat in categories)


def normalize_tag(value: str) -> str:
    """The stored form of a tag: NFKC, trimmed, lower case (casefold would turn ß into ss)."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def _check_tag(value: object) -> object:
    if not isinstance(value, str):
        return value  # let the str type report it
    tag = normalize_tag(value)
    if not _is_valid_tag(tag):
        raise ValueError(
            f"a tag is 1 to {MAX_TAG_LENGTH} letters or digits, possibly with - _ + # . "
            f"(got {value[:40]!r})"
        )
    return tag


def _dedupe_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} different tags")
    return unique


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refused here instead of as a database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return _no_nul(value)


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


Tag = Annotated[str, BeforeValidator(_check_tag)]
# The raw list is bounded too, so a request cannot make us normalise thousands
# of duplicates before the "at most 10" check.
Tags = Annotated[list[Tag], Field(max_length=4 * MAX_TAGS), AfterValidator(_dedupe_tags)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_no_nul),
]
# Markdown is stored as written (leading spaces and newlines mean something).
Content = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH), AfterValidator(not_blank)
]
# A blank category is no category.
_CategoryText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(_no_nul),
]
Category = Annotated[_CategoryText | None, BeforeValidator(_blank_to_none)]


class PostCreate(InputModel):
    title: Title
    content: Content
    category: Category = None
    tags: Tags = Field(default_factory=list)
    is_published: bool = True


class PostUpdate(InputModel):
    """Every field optional; a field that is present replaces the stored value.

    ``category: null`` and ``tags: null`` clear them; title, content and
    is_published cannot be null. An empty body is refused: there is nothing to do.
    """

    title: Title | None = None
    content: Content | None = None
    category: Category = None
    tags: Tags | None = None
    is_published: bool | None = None

    @model_validator(mode="after")
    def _meaningful(self) -> PostUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in ("title", "content", "is_published"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PostRead(OutputModel):
    id: UUID
    author: UserSummary
    title: str
    content: str
    category: str | None
    tags: list[str]
    is_published: bool
    likes_count: int = Field(description="Net score: upvotes minus downvotes")
    comments_count: int
    created_at: datetime
    updated_at: datetime
    my_vote: VoteType | None = Field(description="The caller's vote; null when none or anonymous")
    share_url: str = Field(description="Absolute URL of this post (GET it to read the post)")


PostSort = Literal["new", "top"]


class PostListParams(BaseModel):
    """Query parameters of ``GET /posts``; filters combine with AND."""

    sort: PostSort = Field(default="new", description="new: newest first; top: highest score first")
    cursor: str | None = Field(
        default=None, max_length=500, description="next_cursor of the previous page"
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    category: str | None = Field(default=None, min_length=1, max_length=50)
    tag: str | None = Field(default=None, min_length=1, max_length=30)
    author: str | None = Field(
        default=None, min_length=1, max_length=50, description="author's username or user id"
    )
    drafts: bool = Field(
        default=False, description="true: the caller's own unpublished posts instead"
    )
