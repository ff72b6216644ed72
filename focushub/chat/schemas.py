"""Chat on the wire: rooms, participants, invitations, messages, read state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from focushub.content.fields import not_blank
from focushub.content.schemas import UserSummary
from focushub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from focushub.core.schemas import InputModel, OutputModel

# The database CHECK chat_messages_content_length allows 10,000 characters.
MAX_MESSAGE_LENGTH = 10_000

RoomType = Literal["direct", "group"]
ParticipantRole = Literal["member", "moderator", "admin"]
SendableType = Literal["text", "image", "file"]
MessageType = Literal["text", "image", "file", "system"]

RoomName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
RoomDescription = Annotated[str, StringConstraints(max_length=2000)]


def _no_nul(value: str) -> str:
    # PostgreSQL text (and jsonb, which carries a batch of messages to the group commit,
    # chat_send_messages()) cannot hold U+0000: one such message used to fail every other
    # message written in its batch.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


MessageContent = Annotated[str, StringConstraints(max_length=MAX_MESSAGE_LENGTH),
                           AfterValidator(_no_nul)]
IdempotencyKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                           AfterValidator(_no_nul)]


class RoomCreate(InputModel):
    """A direct room names the other user; a group room a name and its first members."""

    type: RoomType | None = Field(default=None, description="Without it: direct when `user_id` "
                                                            "is given, otherwise group")
    user_id: UUID | None = Field(default=None, description="Direct rooms: the other person")
    name: RoomName | None = Field(default=None, description="Group rooms: required")
    description: RoomDescription | None = None
    member_ids: list[UUID] = Field(default_factory=list, max_length=100, description="Group rooms")

    @model_validator(mode="after")
    def _shape(self) -> RoomCreate:
        if self.type is None:
            self.type = "direct" if self.user_id is not None else "group"
        if self.type == "direct":
            if self.user_id is None:
                raise ValueError("a direct room needs user_id")
            if self.name is not None or self.description is not None or self.member_ids:
                raise ValueError("a direct room takes only user_id")
        else:
            if self.name is None:
                raise ValueError("a group room needs a name")
            if self.user_id is not None:
                raise ValueError("user_id is for direct rooms; use member_ids")
        return self


class RoomUpdate(InputModel):
    name: RoomName | None = None
    description: RoomDescription | None = None
    is_active: StrictBool | None = Field(default=None, description="false archives the room")


class MessageRead(OutputModel):
    id: UUID
    room_id: UUID
    seq: int = Field(description="Position in the room: 1, 2, 3, ... without gaps")
    sender_id: UUID
    sender_username: str | None
    content: str
    message_type: MessageType
    file_url: str | None = Field(description="Image and file messages: GET it for the attachment")
    is_read: bool = Field(
        description="Every other participant has read it (direct rooms: the other person has)"
    )
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


class RoomRead(OutputModel):
    id: UUID
    type: RoomType
    name: str
    description: str | None
    created_by: UUID | None = Field(description="None once its creator deleted their account")
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    last_seq: int = Field(description="seq of the latest message")
    last_event_seq: int = Field(description="seq of the latest room event (realtime resume point)")
    my_role: ParticipantRole
    last_read_seq: int
    unread_count: int = Field(description="0 in a muted room; muted people's messages not counted")
    muted: bool = Field(default=False, description="The caller muted this room")
    request: bool = Field(
        default=False,
        description="A message request to the caller, not accepted yet: listed under "
        "/api/v1/chat/requests, no unread count, no sending until accepted")
    last_message: MessageRead | None
    peer: UserSummary | None = Field(description="Direct rooms: the other participant")


class RoomListParams(BaseModel):
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class ParticipantRead(OutputModel):
    user_id: UUID
    username: str
    full_name: str
    avatar_url: str | None
    role: ParticipantRole
    joined_at: datetime
    last_read_seq: int


class ParticipantCreate(InputModel):
    user_id: UUID
    role: ParticipantRole = "member"


class ParticipantUpdate(InputModel):
    role: ParticipantRole | None = None


class MessageCreate(InputModel):
    content: MessageContent = ""
    message_type: SendableType = "text"
    file_id: UUID | None = Field(
        default=None, description="Image and file messages: the attachment uploaded to this room "
        "(POST /chat/rooms/{room_id}/attachments)")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="Retrying with the same key returns the first message; "
        "the key of another message (other content, type or file) is 409 idempotency_key_reused"
    )

    @model_validator(mode="after")
    def _shape(self) -> MessageCreate:
        if self.message_type == "text":
            if not self.content.strip():
                raise ValueError("a text message needs content")
            if self.file_id is not None:
                raise ValueError("file_id is for image and file messages")
        elif self.file_id is None:
            raise ValueError(f"an {self.message_type} message needs file_id")
        return self


class MessageUpdate(InputModel):
    # Blank as a message sent blank is: an edit cannot empty a message (deleting does).
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_LENGTH),
                       AfterValidator(not_blank)] | None = None


# Sequences are PostgreSQL bigints.
MAX_SEQ = 2**63 - 1


class MessageListParams(BaseModel):
    before: int | None = Field(
        default=None, ge=1, le=MAX_SEQ, description="Messages with seq below this"
    )
    after: int | None = Field(
        default=None, ge=0, le=MAX_SEQ, description="Messages with seq above this"
    )
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)


class MessagePage(BaseModel):
    """Messages in ascending seq. ``next_cursor`` is the seq to pass as ``before`` (or as
    ``after`` when paging forward with ``after``) for the next page; null at the end."""

    items: list[MessageRead]
    next_cursor: str | None


class ReadUpdate(InputModel):
    seq: StrictInt | None = Field(
        default=None, ge=0, le=MAX_SEQ, description="Read up to this seq; default: the latest"
    )


class ReadState(OutputModel):
    room_id: UUID
    last_read_seq: int
    unread_count: int = Field(description="As the room's: 0 in a muted room or a message "
                                          "request; muted people's messages not counted")


class AttachmentRead(OutputModel):
    id: UUID
    room_id: UUID
    name: str
    size: int
    content_type: str = Field(description="Sniffed from the content; images lose their metadata")
    url: str = Field(description="GET it (participants only)")


class InvitationRead(OutputModel):
    """An invitation to a group room: the invitee is not a participant until they accept."""

    room_id: UUID
    room_name: str
    room_description: str | None
    user: UserSummary = Field(description="The invited person")
    invited_by: UserSummary | None = Field(description="None once the inviter deleted their account")
    role: ParticipantRole = Field(description="The role the invitee gets on accepting")
    created_at: datetime


class InvitationListParams(BaseModel):
    cursor: Cursor = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
