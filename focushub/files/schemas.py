"""Stored files on the wire."""

from __future__ import annotations

from pydantic import Field

from focushub.core.schemas import OutputModel


class StorageUsage(OutputModel):
    used_bytes: int = Field(description="Total size of the caller's stored files")
    quota_bytes: int | None = Field(description="null: not limited (admins)")
