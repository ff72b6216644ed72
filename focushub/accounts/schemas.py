"""Account export and deletion on the wire."""

from __future__ import annotations

from pydantic import EmailStr, Field

from focushub.core.schemas import InputModel, Password


class AccountDelete(InputModel):
    password: Password = Field(description="The current password, to confirm")


class PasswordChange(InputModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: Password


class EmailChange(InputModel):
    email: EmailStr = Field(max_length=255)
    password: str = Field(min_length=1, max_length=256, description="The current password")
