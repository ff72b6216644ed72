"""Account export and deletion on the wire."""

from __future__ import annotations

from pydantic import Field

from focushub.core.schemas import InputModel, Password


class AccountDelete(InputModel):
    password: Password = Field(description="The current password, to confirm")
