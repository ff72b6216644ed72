"""Pydantic base classes and field types shared by every domain's schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints


def _fold(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Usernames are case-insensitive: "Pat_Lee" is stored and matched as "pat_lee".
Username = Annotated[
    str, BeforeValidator(_fold), StringConstraints(pattern=r"^[a-z0-9_]{3,50}$")
]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
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
