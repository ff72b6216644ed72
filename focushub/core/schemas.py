"""Pydantic base classes and field types shared by every domain's schemas."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints


def _fold(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Usernames are case-insensitive: "Pat_Lee" is stored and matched as "pat_lee".
USERNAME_PATTERN = r"^[a-z0-9_]{3,50}$"
Username = Annotated[str, BeforeValidator(_fold), StringConstraints(pattern=USERNAME_PATTERN)]


def user_ref(ref: str) -> tuple[str | None, UUID | None]:
    """The readings of ``ref``, which names a person by username or by id: the username it
    would be (or None), the id it would be (or None). Both at once for 32 hex digits, a valid
    username that also reads as an id written without hyphens; lookups take the username
    first (``users.service.get_profile``, ``content.sql.author_filter``)."""
    name = ref.strip().lower()
    username = name if re.fullmatch(USERNAME_PATTERN, name) else None
    try:
        return username, UUID(name)
    except ValueError:
        return username, None
def _visible_name(value: str) -> str:
    """A name shows as something: no control characters (line breaks, NUL, escapes), and at
    least one letter, digit or symbol, so that a name of zero-width or format characters
    alone is not an empty link nor a blank impersonation. Format characters stay allowed
    beside them (the zero-width joiners of Persian and Indic names)."""
    categories = [unicodedata.category(ch) for ch in value]
    if "Cc" in categories:
        raise ValueError("must not contain control characters")
    if not any(cat[0] in "LNS" for cat in categories):
        raise ValueError("must contain a letter, a digit or a symbol")
    return value


FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
                     AfterValidator(_visible_name)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
OpaqueToken = Annotated[str, StringConstraints(min_length=10, max_length=200)]


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ChangeModel(InputModel):
    """A PATCH body that must change something: the OpenAPI document says so
    (``minProperties: 1``), as the validator that refuses ``{}`` does."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
