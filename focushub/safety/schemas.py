"""Blocks and mutes on the wire."""

from __future__ import annotations

from datetime import datetime

from focushub.content.schemas import UserSummary
from focushub.core.schemas import OutputModel


class BlockRead(OutputModel):
    """Someone the caller blocked or muted, and since when."""

    user: UserSummary
    created_at: datetime
