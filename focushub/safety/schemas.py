"""Blocks and mutes on the wire."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from focushub.content.schemas import UserSummary
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import OutputModel


class BlockRead(OutputModel):
    """Someone the caller blocked or muted, and since when."""

    user: UserSummary
    created_at: datetime


class BlockListParams(BaseModel):
    """Query parameters of ``GET /users/me/blocks`` and ``/users/me/mutes``."""

    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
