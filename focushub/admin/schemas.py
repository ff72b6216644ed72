"""Admin on the wire."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, model_validator

from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import ChangeModel, InputModel, OutputModel
from focushub.users.schemas import UserRole


class WeekGrowth(OutputModel):
    week: date = Field(description="Monday of the ISO week")
    users: int
    posts: int
    questions: int
    answers: int
    messages: int


class TagUse(OutputModel):
    tag: str
    uses: int


class AdminStats(OutputModel):
    users: int
    users_by_role: dict[str, int]
    inactive_users: int
    active_1d: int = Field(description="Users who logged in during the last day")
    active_7d: int
    active_30d: int
    new_users_30d: int
    posts: int
    questions: int
    questions_answered: int
    answered_ratio: float | None = Field(description="questions_answered / questions")
    answers: int
    messages: int
    resources: int
    storage_bytes: int
    ai_answers: int
    jobs: dict[str, int] = Field(description="Jobs by status")
    open_reports: int = Field(description="Reports waiting in the moderation queue")
    reported_targets: int
    weeks: list[WeekGrowth] = Field(description="New content per week, oldest first (12 weeks)")
    top_tags: list[TagUse] = Field(description="Most used tags of the last 30 days")


class AdminUserRead(OutputModel):
    id: UUID
    email: str
    username: str
    full_name: str
    role: UserRole
    is_active: bool
    is_verified: bool
    created_at: datetime
    last_login: datetime | None
    suspended_until: datetime | None = Field(
        description="Until when the account is suspended; null when it is not. "
                    "PATCH is_active true lifts it.")


class AdminUserListParams(BaseModel):
    q: str | None = Field(default=None, min_length=1, max_length=100,
                          description="Part of a username, email or name")
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class AdminUserUpdate(ChangeModel):
    role: UserRole | None = None
    is_active: StrictBool | None = Field(
        default=None,
        description="false deactivates the account (its sessions end at once); true "
                    "reactivates it and also lifts a suspension (suspended_until).")
    reason: str | None = Field(default=None, max_length=1000,
                               description="Kept in the audit log")

    @model_validator(mode="after")
    def _something(self) -> AdminUserUpdate:
        if self.role is None and self.is_active is None:
            raise ValueError("send role and/or is_active")
        return self


class AuditEntry(OutputModel):
    id: int
    at: datetime
    actor_id: UUID | None
    actor_username: str | None = Field(description="null for the system, or an account since "
                                                   "deleted")
    action: str
    target_type: str | None
    target_id: UUID | None
    target_username: str | None = Field(description="when the target is a person")
    reason: str | None
    details: dict[str, Any]
    request_id: str | None


class AuditLogParams(BaseModel):
    action: str | None = Field(default=None, min_length=1, max_length=100,
                               description="An action, or a prefix ending in '.'")
    actor_id: UUID | None = None
    target_id: UUID | None = None
    cursor: Cursor = None
    limit: int = Field(default=50, ge=1, le=200)


class EndSessions(InputModel):
    reason: str | None = Field(default=None, max_length=1000,
                               description="Kept in the audit log")


class EndSessionsRead(OutputModel):
    tokens_revoked: int


class SpamSignal(OutputModel):
    """An account whose recent behaviour looks like spam or harassment."""

    user_id: UUID
    username: str
    created_at: datetime
    is_active: bool
    blocks_received: int = Field(description="People who blocked them in the window (shown from 3)")
    repeated_texts: int = Field(description="Most copies of one text they sent (shown from 5)")
    rooms_with_strangers: int = Field(description="Chats opened with people who do not follow "
                                                  "them (shown from 5)")
    open_reports: int
