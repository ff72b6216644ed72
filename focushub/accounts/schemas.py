"""Account export and deletion on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import EmailStr, Field

from focushub.core.schemas import InputModel, OutputModel, Password


class AccountDelete(InputModel):
    password: Password = Field(description="The current password, to confirm")


class PasswordChange(InputModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: Password


class EmailChange(InputModel):
    email: EmailStr = Field(max_length=255)
    password: str = Field(min_length=1, max_length=256, description="The current password")


class AccountExportRead(OutputModel):
    """An export made by the ``accounts.export`` job."""

    id: UUID
    status: Literal["queued", "running", "ready", "failed"]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(
        default=None, description="Ready or failed: when it is deleted")
    file_name: str | None = None
    size: int | None = Field(default=None, description="Bytes of the zip, once ready")
    error: str | None = None
    download_url: str | None = Field(
        default=None, description="Once ready: where the owner downloads the zip until it expires")
