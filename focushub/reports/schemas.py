"""Reports and moderation on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, StrictInt, model_validator

from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import InputModel, OutputModel


class ReportTarget(StrEnum):
    post = "post"
    comment = "comment"
    question = "question"
    answer = "answer"
    ai_answer = "ai_answer"
    chat_message = "chat_message"
    resource = "resource"
    user = "user"


class ReportReason(StrEnum):
    spam = "spam"
    harassment = "harassment"
    wrong = "wrong"
    other = "other"


class ReportStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"
    actioned = "actioned"


class ModerationAction(StrEnum):
    dismiss = "dismiss"
    hide = "hide"
    delete = "delete"
    warn = "warn"
    suspend = "suspend"
    deactivate = "deactivate"


class ReportCreate(InputModel):
    target_type: ReportTarget
    target_id: UUID
    reason: ReportReason
    details: str | None = Field(default=None, max_length=1000,
                                description="Required when the reason is `other`")

    @model_validator(mode="after")
    def _other_says_why(self) -> ReportCreate:
        if self.details is not None:
            self.details = self.details.strip() or None
        if self.reason is ReportReason.other and not self.details:
            raise ValueError("say what is wrong in `details` when the reason is `other`")
        return self


class ReportRead(OutputModel):
    """A report as its reporter sees it."""

    id: UUID
    target_type: ReportTarget
    target_id: UUID
    reason: ReportReason
    details: str | None
    status: ReportStatus
    created_at: datetime
    resolved_at: datetime | None


class ReportListParams(BaseModel):
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class QueueParams(BaseModel):
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class QueueItem(OutputModel):
    """One reported target with all its open reports."""

    target_type: ReportTarget
    target_id: UUID
    state: str = Field(description="visible, hidden, deleted, suspended or deactivated")
    author_id: UUID | None
    author_username: str | None
    open_reports: int
    reasons: dict[str, int]
    details: list[str] = Field(description="What the reporters wrote (not who they are)")
    snapshot: dict[str, Any] = Field(description="The target as the latest reporter saw it")
    first_reported_at: datetime
    last_reported_at: datetime


class ModerationCreate(InputModel):
    action: ModerationAction
    reason: str | None = Field(default=None, max_length=1000,
                               description="Shown to the author; required except to dismiss")
    suspend_until: datetime | None = Field(default=None, description="For `suspend`")

    @model_validator(mode="after")
    def _complete(self) -> ModerationCreate:
        if self.reason is not None:
            self.reason = self.reason.strip() or None
        if self.action is not ModerationAction.dismiss and not self.reason:
            raise ValueError("a reason is required: the author is shown it")
        if (self.action is ModerationAction.suspend) != (self.suspend_until is not None):
            raise ValueError("`suspend_until` goes with the `suspend` action, and only with it")
        if self.suspend_until is not None and self.suspend_until.tzinfo is None:
            raise ValueError("`suspend_until` needs a time zone")
        return self


class ModerationRead(OutputModel):
    reports_resolved: int
    author_id: UUID | None
    state: str


class ModerationSettingsRead(OutputModel):
    hide_threshold: int = Field(description="Open reports that hide a target until review")
    updated_at: datetime | None


class ModerationSettingsUpdate(InputModel):
    hide_threshold: StrictInt = Field(ge=1, le=1000)
    reason: str | None = Field(default=None, max_length=1000)
