"""Notifications on the wire: the list, the unread count, marking read, preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, model_validator

from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import InputModel, OutputModel

NotificationType = Literal["like", "comment", "follow", "answer", "mention", "system"]
NOTIFICATION_TYPES: tuple[NotificationType, ...] = ("like", "comment", "follow", "answer", "mention", "system")


class NotificationRead(OutputModel):
    id: UUID
    type: NotificationType
    title: str
    message: str
    data: dict[str, Any] | None = Field(
        description="target_type, target_id, count (actions folded into this notification), "
        "actors (latest first, at most 3: {id, username}) and ids to link to (post_id, question_id, ...)"
    )
    is_read: bool
    created_at: datetime = Field(description="When the latest action folded into it happened")


class NotificationListParams(BaseModel):
    unread: bool = Field(default=False, description="true: only unread notifications")
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class UnreadCountRead(OutputModel):
    count: int


class NotificationMarkRead(InputModel):
    """Exactly one of ``ids`` (1..100 of the caller's notifications) or ``all: true``;
    with ``until``, only those of them whose latest action came at or before it."""

    ids: list[UUID] | None = Field(default=None, min_length=1, max_length=MAX_LIMIT)
    all: StrictBool | None = None
    until: AwareDatetime | None = Field(
        default=None,
        description="Only notifications whose latest action (created_at) is at or before this "
        "time: send the newest created_at the reader was shown, so that a notification that "
        "arrived since, or that another action joined since, stays unread")

    @model_validator(mode="after")
    def _exactly_one(self) -> NotificationMarkRead:
        if (self.ids is not None) == (self.all is True) or self.all is False:
            raise ValueError('send either "ids" or "all": true')
        return self


class MarkReadResult(OutputModel):
    marked: int = Field(description="Notifications that were unread and are now read")
    unread_count: int


class NotificationPreferencesRead(OutputModel):
    like: bool
    comment: bool
    follow: bool
    answer: bool
    mention: bool
    system: bool
    updated_at: datetime | None = Field(description="Null while every type is on by default")


class NotificationPreferencesUpdate(InputModel):
    """Every field optional; a present field turns that type on or off."""

    like: StrictBool | None = None
    comment: StrictBool | None = None
    follow: StrictBool | None = None
    answer: StrictBool | None = None
    mention: StrictBool | None = None
    system: StrictBool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> NotificationPreferencesUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} must be true or false")
        return self
