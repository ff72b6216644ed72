from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field

from focushub.core.schemas import FullName, InputModel, OpaqueToken, OutputModel, Password, Username
from focushub.users.schemas import UserMe


class SignupCreate(InputModel):
    email: EmailStr = Field(max_length=255)
    password: Password
    full_name: FullName
    username: Username


class LoginCreate(InputModel):
    email: EmailStr = Field(max_length=255)
    password: str = Field(min_length=1, max_length=256)


class RefreshCreate(InputModel):
    refresh_token: OpaqueToken


class TokenRead(OutputModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    expires_at: int
    refresh_token: str


class SessionRead(TokenRead):
    user: UserMe


class VerifyEmailCreate(InputModel):
    token: OpaqueToken


class EmailCreate(InputModel):
    email: EmailStr = Field(max_length=255)


class PasswordResetConfirm(InputModel):
    token: OpaqueToken
    password: Password


class MessageRead(OutputModel):
    message: str
