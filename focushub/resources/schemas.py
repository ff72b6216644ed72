"""Resources on the wire.

A resource is created with a multipart form (the file and its fields, see the
router) and changed with JSON (:class:`ResourceUpdate`). Its file is served at
``file.url``; ``file_url`` in the database holds that same stable API path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from focushub.content.fields import Category, Tags, Title
from focushub.content.schemas import UserSummary
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import ChangeModel, InputModel, OutputModel


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Description = Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_nul)]
FileKind = Literal["pdf", "image", "video", "text", "document", "spreadsheet", "presentation",
                   "archive"]


class ResourceFields(InputModel):
    """The fields of the upload form, validated like any body."""

    title: Title
    description: Description | None = None
    category: Category = None
    tags: Tags = Field(default_factory=list)
    is_public: bool = True


class ResourceUpdate(ChangeModel):
    """Every field optional; ``description``, ``category`` and ``tags`` may be null to
    clear them. The file itself cannot be replaced: upload a new resource."""

    title: Title | None = None
    description: Description | None = None
    category: Category = None
    tags: Tags | None = None
    is_public: StrictBool | None = None

    @model_validator(mode="after")
    def _meaningful(self) -> ResourceUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in ("title", "is_public"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PreviewRead(OutputModel):
    status: Literal["pending", "ready", "none", "failed"] = Field(
        description="pending: being made; none: this type has no preview")
    image_url: str | None = Field(description="A small JPEG of the image or the first PDF page")
    text: str | None = Field(description="The first lines of a text file")


class FileRead(OutputModel):
    name: str
    size: int
    content_type: str = Field(description="Sniffed from the content, not taken from the client")
    kind: FileKind
    sha256: str
    url: str = Field(description="GET it to download (Range and If-None-Match supported)")
    preview: PreviewRead


class ResourceRead(OutputModel):
    id: UUID
    author: UserSummary
    title: str
    description: str | None
    category: str | None
    tags: list[str]
    is_public: bool
    downloads_count: int = Field(description="Downloads, once per user per day")
    file: FileRead | None = Field(description="null for resources made before uploads existed")
    created_at: datetime
    updated_at: datetime


ResourceSort = Literal["newest", "downloads", "name", "size"]


class ResourceListParams(BaseModel):
    """Query parameters of ``GET /resources``; filters combine with AND."""

    sort: ResourceSort = Field(
        default="newest", description="newest first, most downloaded first, by name (title A to "
        "Z, letter case ignored) or by size (largest file first)")
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    category: str | None = Field(default=None, min_length=1, max_length=50)
    tag: str | None = Field(default=None, min_length=1, max_length=30)
    author: str | None = Field(default=None, min_length=1, max_length=50,
                               description="author's username or user id")
    type: FileKind | None = Field(default=None, description="the file's kind")
    mine: bool = Field(default=False, description="true: only the caller's own (private too)")
