"""Text fields shared by the content domains (posts, resources, …): title, Markdown
content, category and tags, with the limits the database enforces (0002 column types,
0003 CHECKs).

Tags are normalised here (NFKC, trimmed, lower case, duplicates dropped, first
occurrence wins) and must be 1..30 characters: letters and digits of any script and
``- _ + # .``, with at least one letter or digit ("café", "数学", "गणित", "c++", "c#",
"node.js" are tags; spaces, slashes, emoji are not), so that ``?tag=`` matches what
people meant whatever case they typed.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

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


def split_tags(*texts: str) -> list[str]:
    """Tags typed comma-separated (a form field, or repeated multipart fields)."""
    return [tag for text in texts for tag in (part.strip() for part in text.split(",")) if tag]


def normalize_tag(value: str) -> str:
    """The stored form of a tag: NFKC, trimmed, lower case (casefold would turn ß into ss)."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def checked_tag(value: str) -> str:
    """The stored form of the tag ``value``; ValueError when it is not a tag."""
    tag = normalize_tag(value)
    if not _is_valid_tag(tag):
        raise ValueError(
            f"a tag is 1 to {MAX_TAG_LENGTH} letters or digits, possibly with - _ + # . "
            f"(got {value[:40]!r})"
        )
    return tag


def _check_tag(value: object) -> object:
    if not isinstance(value, str):
        return value  # let the str type report it
    return checked_tag(value)


def _dedupe_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} different tags")
    return unique


def no_nul(value: str) -> str:
    """PostgreSQL text cannot hold U+0000: refused here, by field, instead of as a nameless
    database error."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return no_nul(value)


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
    AfterValidator(no_nul),
]
# Markdown is stored as written (leading spaces and newlines mean something).
Content = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH), AfterValidator(not_blank)
]
# A blank category is no category.
_CategoryText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(no_nul),
]
Category = Annotated[_CategoryText | None, BeforeValidator(_blank_to_none)]
