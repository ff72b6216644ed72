"""Chat: rooms, participants, invitations, messages, read state and export.

The rules live in the database (0003 and 0008): RLS decides who sees and
changes what, triggers number messages and room events without gaps under
the room row lock, post ``system`` messages on join and leave, promote an
admin when the last one leaves, and keep direct rooms at two people. Each
write below reads back the room events its own transaction wrote
(``chat_transaction_events()``) just before its commit and publishes them through
the transaction (:func:`_write`, focushub/chat/events.py), so a rolled-back
request publishes nothing. Messages are group-committed (:func:`send_message`):
``chat_send_messages()`` returns the events of its batch, published the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO
from uuid import UUID

import orjson

from focushub.chat import events, queries
from focushub.chat.schemas import (
    AttachmentRead,
    InvitationListParams,
    InvitationRead,
    MessageCreate,
    MessageListParams,
    MessagePage,
    MessageRead,
    MessageUpdate,
    ParticipantCreate,
    ParticipantRead,
    ParticipantUpdate,
    ReadState,
    ReadUpdate,
    RoomCreate,
    RoomListParams,
    RoomRead,
    RoomUpdate,
    UserSummary,
)
from focushub.core.db import SERVICE, Caller, Tx
from focushub.core.errors import Conflict, Forbidden, NotFound, translate_sql_error
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.files import service as files
from focushub.files import sniff
from focushub.safety import limits


async def _post_membership_messages(tx: Tx) -> None:
    """Post the group rooms' "joined" / "left" system messages for this transaction's changes."""
    await tx.execute("SELECT public.chat_post_membership_messages()")


@asynccontextmanager
async def _write(rt: Runtime, caller: Caller) -> AsyncIterator[Tx]:
    """A transaction of a chat write: the room events it writes are published when it
    commits (and never if it rolls back)."""
    async with rt.transaction(caller) as tx:
        tx.before_commit(events.publish_transaction_events)
        yield tx


def _room(row: Mapping[str, Any]) -> RoomRead:
    last = None
    if row["lm_id"] is not None:
        last = MessageRead(
            id=row["lm_id"], room_id=row["id"], seq=row["lm_seq"], sender_id=row["lm_sender_id"],
            sender_username=row["lm_sender_username"], content=row["lm_content"],
            message_type=row["lm_message_type"], file_url=row["lm_file_url"],
            is_read=row["lm_is_read"], created_at=row["lm_created_at"],
            edited_at=row["lm_edited_at"], deleted_at=row["lm_deleted_at"],
        )
    peer = None
    if row["peer_id"] is not None:
        peer = UserSummary.from_row(row, prefix="peer_")
    return RoomRead(
        id=row["id"], type=row["type"], name=row["name"], description=row["description"],
        created_by=row["created_by"], is_active=row["is_active"], created_at=row["created_at"],
        updated_at=row["updated_at"], last_activity_at=row["last_activity_at"],
        last_seq=row["last_seq"], last_event_seq=row["last_event_seq"], my_role=row["my_role"],
        last_read_seq=row["last_read_seq"], unread_count=row["unread_count"],
        muted=row["muted"], request=row["request"], last_message=last, peer=peer,
    )


async def _read_room(tx: Tx, room_id: UUID) -> RoomRead:
    row = await tx.one_or_none(
        queries.ROOMS.format(where="AND r.id = :room_id"), room_id=room_id, limit=1
    )
    if row is None:
        raise NotFound("No such room", code="room_not_found")
    return _room(row)


async def _check_room_visible(tx: Tx, room_id: UUID) -> None:
    """404 unless the caller participates in the room. (The rooms policy also shows a room
    to its creator after they left; for chat purposes that room is gone.)"""
    if not await tx.scalar("SELECT public.is_room_member(:id)", id=room_id):
        raise NotFound("No such room", code="room_not_found")


# --- rooms -------------------------------------------------------------------------------


async def _has_direct_room(rt: Runtime, caller: Caller, other: UUID | None) -> bool:
    """Whether the caller already has a direct room with ``other`` that they can see (one
    they are in, or a request to them), by the pair's key as ``chat_open_direct_room()``
    writes it."""
    if other is None or caller.user_id is None:
        return False
    me, them = str(caller.user_id), str(other)
    pair = f"{min(me, them)}:{max(me, them)}"
    async with rt.transaction(caller) as tx:
        return await tx.scalar("SELECT EXISTS (SELECT 1 FROM public.chat_rooms"
                               " WHERE direct_pair_key = :pair)", pair=pair)


async def create_room(
    rt: Runtime, caller: Caller, data: RoomCreate
) -> tuple[RoomRead, bool]:
    """Open the direct room with ``data.user_id`` (the existing one if any) or create a group.

    Consent (0031): a direct room opened with someone who does not follow the caller is a
    message request to them; group members who do not follow the caller are invited, not
    added. Opening a chat with someone whose request one has (even declined) accepts it.
    Returns the room and whether it was created now.
    """
    if data.type != "direct" or not await _has_direct_room(rt, caller, data.user_id):
        # Going back to a direct chat one has opens nothing new: only a new chat counts.
        await limits.check_write(rt, caller, "room")
    async with _write(rt, caller) as tx:
        if data.type == "direct":
            row = await tx.one(
                "SELECT room_id, created FROM public.chat_open_direct_room(:other)",
                other=data.user_id,
            )
            room_id, created = row["room_id"], row["created"]
            # Opening a chat oneself is consent: a request (even declined) becomes a chat.
            await tx.execute("SELECT public.chat_accept_invitation(:id)", id=room_id)
        else:
            room_id = await tx.scalar(
                "INSERT INTO public.chat_rooms (name, description, type, created_by)"
                " VALUES (:name, :description, 'group', auth.uid()) RETURNING id",
                name=data.name, description=data.description,
            )
            created = True
            members = [m for m in dict.fromkeys(data.member_ids) if m != caller.user_id]
            if members:
                await tx.execute(
                    "INSERT INTO public.chat_room_participants (room_id, user_id, role)"
                    " SELECT :room_id, u.id, 'member' FROM public.users u"
                    " WHERE u.id = ANY(CAST(:ids AS uuid[])) AND u.is_active"
                    " ORDER BY array_position(CAST(:ids AS uuid[]), u.id)",
                    room_id=room_id, ids=members,
                )
            await _post_membership_messages(tx)
        return await _read_room(tx, room_id), created


async def _list_rooms(rt: Runtime, caller: Caller, params: RoomListParams,
                      which: str) -> Page[RoomRead]:
    where = which
    bind: dict[str, Any] = {"limit": params.limit + 1}
    if params.cursor is not None:
        bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
        where += " AND (r.last_activity_at, r.id) < (:c_at, :c_id)"
    async with rt.transaction(caller) as tx:
        rows = await tx.all(queries.ROOMS.format(where=where), **bind)
    page, next_cursor = page_of(rows, params.limit, lambda r: (r["last_activity_at"], r["id"]))
    return Page[RoomRead](items=[_room(r) for r in page], next_cursor=next_cursor)


async def list_rooms(rt: Runtime, caller: Caller, params: RoomListParams) -> Page[RoomRead]:
    """The caller's rooms, latest activity first: one statement after the role switch.
    Message requests are not among them (:func:`list_requests`)."""
    return await _list_rooms(rt, caller, params, queries.IN_ROOMS)


async def list_requests(rt: Runtime, caller: Caller, params: RoomListParams) -> Page[RoomRead]:
    """Direct chats opened with the caller by people they do not follow, not yet accepted nor
    declined, latest activity first (no unread counts)."""
    return await _list_rooms(rt, caller, params, queries.IN_REQUESTS)


async def get_room(rt: Runtime, caller: Caller, room_id: UUID) -> RoomRead:
    async with rt.transaction(caller) as tx:
        return await _read_room(tx, room_id)


async def update_room(
    rt: Runtime, caller: Caller, room_id: UUID, data: RoomUpdate
) -> RoomRead:
    """Rename, describe or archive a room (room admins, by RLS)."""
    fields = data.model_dump(exclude_unset=True)
    if "name" in fields and fields["name"] is None:
        del fields["name"]
    if "is_active" in fields and fields["is_active"] is None:
        del fields["is_active"]
    async with _write(rt, caller) as tx:
        await _check_room_visible(tx, room_id)
        if fields:
            sets = ", ".join(f"{name} = :{name}" for name in fields)
            updated = await tx.scalar(
                f"UPDATE public.chat_rooms SET {sets} WHERE id = :room_id RETURNING id",
                room_id=room_id, **fields,
            )
            if updated is None:
                raise Forbidden("Only room admins change the room", code="not_room_admin")
        return await _read_room(tx, room_id)


# --- participants -------------------------------------------------------------------------


async def list_participants(rt: Runtime, caller: Caller, room_id: UUID) -> list[ParticipantRead]:
    async with rt.transaction(caller) as tx:
        await _check_room_visible(tx, room_id)
        rows = await tx.all(queries.PARTICIPANTS.format(where=""), room_id=room_id)
    return [ParticipantRead.model_validate(dict(r)) for r in rows]


async def _participant(tx: Tx, room_id: UUID, user_id: UUID) -> ParticipantRead:
    row = await tx.one_or_none(
        queries.PARTICIPANTS.format(where="AND p.user_id = :user_id"), room_id=room_id, user_id=user_id
    )
    if row is None:
        raise NotFound("No such participant", code="participant_not_found")
    return ParticipantRead.model_validate(dict(row))


async def add_participant(
    rt: Runtime, caller: Caller, room_id: UUID, data: ParticipantCreate
) -> ParticipantRead | InvitationRead:
    """Add a user to a group room (room admins, by RLS; direct rooms refuse a third). Someone
    who does not follow the caller is invited instead (0031): the invitation is returned."""
    async with _write(rt, caller) as tx:
        await _check_room_visible(tx, room_id)
        active = await tx.scalar(
            "SELECT is_active FROM public.users WHERE id = :id", id=data.user_id
        )
        if not active:
            raise NotFound("No such user", code="user_not_found")
        await tx.execute(
            "INSERT INTO public.chat_room_participants (room_id, user_id, role)"
            " VALUES (:room_id, :user_id, CAST(:role AS participant_role))",
            room_id=room_id, user_id=data.user_id, role=data.role,
        )
        await _post_membership_messages(tx)
        invited = await tx.one_or_none(
            queries.INVITATIONS.format(where="i.room_id = :room_id AND i.user_id = :user_id"),
            room_id=room_id, user_id=data.user_id, limit=1)
        if invited is not None:
            return _invitation(invited)
        return await _participant(tx, room_id, data.user_id)


async def update_participant(
    rt: Runtime,
    caller: Caller,
    room_id: UUID,
    user_id: UUID,
    data: ParticipantUpdate
) -> ParticipantRead:
    """Change a participant's role (room admins; check_participant_update says so)."""
    async with _write(rt, caller) as tx:
        await _check_room_visible(tx, room_id)
        current = await _participant(tx, room_id, user_id)
        if data.role is None or data.role == current.role:
            return current
        updated = await tx.scalar(
            "UPDATE public.chat_room_participants SET role = CAST(:role AS participant_role)"
            " WHERE room_id = :room_id AND user_id = :user_id RETURNING user_id",
            room_id=room_id, user_id=user_id, role=data.role,
        )
        if updated is None:
            raise Forbidden("Only room admins change roles", code="not_room_admin")
        return await _participant(tx, room_id, user_id)


async def remove_participant(
    rt: Runtime, caller: Caller, room_id: UUID, user_id: UUID
) -> None:
    """Leave (``user_id`` is the caller) or remove someone (admins; moderators remove members)."""
    async with _write(rt, caller) as tx:
        await _check_room_visible(tx, room_id)
        await _participant(tx, room_id, user_id)
        removed = await tx.scalar(
            "DELETE FROM public.chat_room_participants WHERE room_id = :room_id AND user_id = :user_id"
            " RETURNING user_id",
            room_id=room_id, user_id=user_id,
        )
        if removed is None:
            raise Forbidden(
                "Only room admins and moderators remove participants", code="not_room_moderator"
            )
        await _post_membership_messages(tx)


# --- invitations and message requests (0031) ----------------------------------------------


def _invitation(row: Mapping[str, Any]) -> InvitationRead:
    by = UserSummary.from_row(row, prefix="by_") if row["by_id"] is not None else None
    return InvitationRead(
        room_id=row["room_id"], room_name=row["room_name"],
        room_description=row["room_description"], user=UserSummary.from_row(row, prefix="user_"),
        invited_by=by, role=row["role"], created_at=row["created_at"])


async def list_invitations(
    rt: Runtime, caller: Caller, params: InvitationListParams
) -> Page[InvitationRead]:
    """The caller's pending invitations to group rooms, newest first."""
    where = "i.user_id = auth.uid()"
    bind: dict[str, Any] = {"limit": params.limit + 1}
    if params.cursor is not None:
        bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
        where += " AND (i.created_at, i.room_id) < (:c_at, :c_id)"
    async with rt.transaction(caller) as tx:
        rows = await tx.all(queries.INVITATIONS.format(where=where), **bind)
    page, next_cursor = page_of(rows, params.limit, lambda r: (r["created_at"], r["room_id"]))
    return Page[InvitationRead](items=[_invitation(r) for r in page], next_cursor=next_cursor)


async def list_room_invitations(
    rt: Runtime, caller: Caller, room_id: UUID
) -> list[InvitationRead]:
    """The pending invitations of a group room, for its participants (RLS)."""
    async with rt.transaction(caller) as tx:
        await _check_room_visible(tx, room_id)
        rows = await tx.all(queries.INVITATIONS.format(where="i.room_id = :room_id"),
                            room_id=room_id, limit=None)
    return [_invitation(r) for r in rows]


async def withdraw_invitation(rt: Runtime, caller: Caller, room_id: UUID, user_id: UUID) -> None:
    """A room admin takes back a pending invitation to their group (RLS: admins only)."""
    async with rt.transaction(caller) as tx:
        await _check_room_visible(tx, room_id)
        exists = await tx.scalar(
            "SELECT EXISTS (SELECT 1 FROM public.chat_invitations i JOIN public.chat_rooms r"
            " ON r.id = i.room_id AND r.type = 'group'"
            " WHERE i.room_id = :room_id AND i.user_id = :user_id)",
            room_id=room_id, user_id=user_id)
        if not exists:
            raise NotFound("No such invitation", code="invitation_not_found")
        removed = await tx.scalar(
            "DELETE FROM public.chat_invitations WHERE room_id = :room_id AND user_id = :user_id"
            " RETURNING user_id", room_id=room_id, user_id=user_id)
        if removed is None:
            raise Forbidden("Only room admins withdraw invitations", code="not_room_admin")


async def _check_invited(tx: Tx, room_id: UUID, kind: str) -> None:
    """404 unless the caller has an invitation to a room of ``kind`` (``group``: an
    invitation; ``direct``: a message request)."""
    found = await tx.scalar(
        "SELECT public.is_room_invitee(:id)"
        " AND EXISTS (SELECT 1 FROM public.chat_rooms r WHERE r.id = :id AND r.type::text = :kind)",
        id=room_id, kind=kind)
    if not found:
        code = "invitation_not_found" if kind == "group" else "request_not_found"
        raise NotFound("No such invitation" if kind == "group" else "No such message request",
                       code=code)


async def accept_invitation(rt: Runtime, caller: Caller, room_id: UUID, kind: str) -> RoomRead:
    """The invitee accepts: a group invitation makes them a participant ("joined" is posted,
    the room's members and the invitee get ``participant.added``); a message request becomes
    an ordinary direct chat. An invitation from someone across a block from the caller is
    taken away instead (0059; it commits) and answered as one that is not there."""
    async with _write(rt, caller) as tx:
        await _check_invited(tx, room_id, kind)
        if await tx.scalar("SELECT public.chat_accept_invitation(:id)", id=room_id):
            await _post_membership_messages(tx)
            return await _read_room(tx, room_id)
    raise NotFound("No such invitation", code="invitation_not_found")


async def decline_invitation(rt: Runtime, caller: Caller, room_id: UUID, kind: str) -> None:
    """The invitee declines: a group invitation is gone; a message request leaves the
    caller's lists (its opener is not told). Nothing is published."""
    async with rt.transaction(caller) as tx:
        await _check_invited(tx, room_id, kind)
        await tx.execute("SELECT public.chat_decline_invitation(:id)", id=room_id)


# --- messages ----------------------------------------------------------------------------


async def _message(tx: Tx, message_id: UUID) -> MessageRead:
    row = await tx.one_or_none(queries.ONE_MESSAGE, id=message_id)
    if row is None:
        raise NotFound("No such message", code="message_not_found")
    return MessageRead.model_validate(dict(row))


async def send_message(
    rt: Runtime, caller: Caller, room_id: UUID, data: MessageCreate
) -> MessageRead:
    """Send a message as the caller (``chat_send_message()``: 404 outside the room, 409 in
    an archived room). With an ``idempotency_key`` a retry returns the first message and
    writes nothing, so it publishes nothing either; the key of another message (other
    content, type or file) is 409 ``idempotency_key_reused`` (refused by
    ``chat_send_message()`` itself, 0049).

    Messages are group-committed: the ones waiting at the same moment for rooms of the
    same lane are written in one transaction (``chat_send_messages()``, 0034/0035), each as
    its own sender, one that fails leaving nothing, and each returns once that transaction
    committed. A room's messages from one process keep the order they were sent in."""
    if not caller.is_authenticated:
        raise Forbidden("sign in to send messages")
    # The write limit is checked in the batch's own transaction (_send_batch), not in one
    # of the message's: a message pays no transaction for its check.
    group = rt.group_commit("chat.messages", lambda items: _send_batch(rt, items),
                            lanes=SEND_LANES, max_items=SEND_BATCH)
    return await group.submit(str(room_id), (caller, room_id, data))


# Transactions of message batches a process may have open at once (rooms spread over
# them), and the most messages one of them writes. One: at 2,000 messages/s its larger
# batches cost PostgreSQL 14 % less CPU per message than two lanes' (docs/performance.md).
SEND_LANES = 1
SEND_BATCH = 100


def _send_item(caller: Caller, room_id: UUID, data: MessageCreate) -> dict[str, Any]:
    return {
        "claims": dict(caller.claims), "sub": str(caller.user_id),
        "session": caller.claims.get("session_id"), "room_id": str(room_id),
        "content": data.content, "message_type": data.message_type,
        "file_id": str(data.file_id) if data.file_id else None, "key": data.idempotency_key,
    }


async def _send_batch(
    rt: Runtime, items: list[tuple[Caller, UUID, MessageCreate]]
) -> list[MessageRead | BaseException]:
    """Write a batch of messages in one transaction: first the senders' write limits
    (``limits.refusals_within``: their standings and hits), then one statement for the
    admitted messages, then their room events (published at the commit, as every chat
    write's). A refused message fails alone, with its 429."""
    async with rt.direct_transaction(SERVICE) as tx:
        refusals = await limits.refusals_within(
            rt, tx, "message", [caller.user_id for caller, _, _ in items])
        admitted = [item for item, refused in zip(items, refusals, strict=True) if refused is None]
        out: dict[str, Any] = {"results": []}
        if admitted:
            payload = orjson.dumps([_send_item(*item) for item in admitted]).decode()
            out = orjson.loads(await tx.scalar(queries.SEND_MESSAGES, items=payload))
            events.publish_rows(tx, [events.stored_event(e) for e in out["events"]])
    sent = iter(zip(out["results"], admitted, strict=True))
    results: list[MessageRead | BaseException] = []
    for refused in refusals:
        if refused is not None:
            results.append(refused)
            continue
        result = next(sent)[0]
        if "message" in result:
            results.append(MessageRead.model_validate(result["message"]))
            continue
        error = translate_sql_error(result["sqlstate"], result["error"], result["constraint"])
        if error is not None and error.code == "idempotency_key_reused":
            # chat_send_message() names the message the key was first used for (0049).
            error.details = {"message_id": result.get("detail")}
        results.append(error or RuntimeError(
            f"chat_send_messages: {result['sqlstate']} {result['error']}"))
    return results


async def list_messages(
    rt: Runtime, caller: Caller, room_id: UUID, params: MessageListParams
) -> MessagePage:
    """A window of messages by seq, returned in ascending order.

    ``after``: the first ``limit`` messages above it. Otherwise the last ``limit``
    messages below ``before`` (or the latest ones).
    """
    bind: dict[str, Any] = {"room_id": room_id, "limit": params.limit + 1}
    conditions = []
    if params.after is not None:
        conditions.append("m.seq > :after")
        bind["after"] = params.after
    if params.before is not None:
        conditions.append("m.seq < :before")
        bind["before"] = params.before
    where = "".join(f" AND {c}" for c in conditions)
    forward = params.after is not None
    async with rt.transaction(caller) as tx:
        await _check_room_visible(tx, room_id)
        rows = await tx.all(
            queries.MESSAGES.format(where=where, order="ASC" if forward else "DESC"), **bind
        )
    page, _ = page_of(rows, params.limit, lambda r: (r["seq"],))
    next_cursor = str(page[-1]["seq"]) if len(rows) > params.limit else None
    if not forward:
        page = list(reversed(page))
    return MessagePage(items=[MessageRead.model_validate(dict(r)) for r in page], next_cursor=next_cursor)


async def edit_message(
    rt: Runtime, caller: Caller, room_id: UUID, message_id: UUID, data: MessageUpdate
) -> MessageRead:
    """Edit one's own message (RLS: the sender; the trigger refuses deleted and system ones)."""
    async with _write(rt, caller) as tx:
        current = await _message(tx, message_id)
        if current.room_id != room_id:
            raise NotFound("No such message", code="message_not_found")
        if data.content is None or data.content == current.content:
            return current
        updated = await tx.scalar(
            "UPDATE public.chat_messages SET content = :content WHERE id = :id RETURNING id",
            id=message_id, content=data.content,
        )
        if updated is None:
            raise Forbidden("Only the sender edits a message", code="not_message_sender")
        return await _message(tx, message_id)


async def delete_message(
    rt: Runtime, caller: Caller, room_id: UUID, message_id: UUID
) -> MessageRead:
    """Soft-delete: the message keeps its seq, its content is blanked, ``deleted_at`` set."""
    async with _write(rt, caller) as tx:
        current = await _message(tx, message_id)
        if current.room_id != room_id:
            raise NotFound("No such message", code="message_not_found")
        await tx.execute("SELECT 1 FROM public.chat_delete_message(:id)", id=message_id)
        return await _message(tx, message_id)


# --- attachments --------------------------------------------------------------------------

# Photos are re-encoded (which drops their EXIF, location included) at most this wide.
CHAT_IMAGE_SIZE = 2560


def _attachment(row: Mapping[str, Any]) -> AttachmentRead:
    return AttachmentRead(
        id=row["id"], room_id=row["room_id"], name=row["file_name"], size=row["size"],
        content_type=row["content_type"],
        url=f"/api/v1/chat/rooms/{row['room_id']}/attachments/{row['id']}")


async def upload_attachment(
    rt: Runtime, caller: Caller, room_id: UUID, upload: BinaryIO, file_name: str | None
) -> AttachmentRead:
    """Store a file for the room (participants only); send it with an ``image`` or ``file``
    message carrying its id. JPEG, PNG and WebP images are stored re-encoded, GIFs rewritten,
    both without their metadata. Unsent attachments are removed after a day (``files.sweep``)."""
    await limits.check_write(rt, caller, "upload")
    settings = rt.settings
    async with files.receive(upload, file_name, max_bytes=settings.max_upload_bytes) as received:
        async with contextlib.AsyncExitStack() as stack:
            final = received
            if received.kind in (sniff.JPEG, sniff.PNG, sniff.WEBP):
                final = await stack.enter_async_context(
                    files.reencoded(received, CHAT_IMAGE_SIZE))
            elif received.kind is sniff.GIF:
                # Not re-encoded (its frames would be lost), but without its comments and
                # XMP, which may say who made it and where, as a resource's image.
                final = await stack.enter_async_context(files.without_metadata(received))
            key = await stack.enter_async_context(files.stored(rt, final, "attachment"))
            async with rt.transaction(caller) as tx:
                await _check_room_visible(tx, room_id)
                # The upload policy asks for an active room too (0062); said here first so
                # that the refusal reads as the message's would.
                if not await tx.scalar("SELECT is_active FROM public.chat_rooms WHERE id = :id",
                                       id=room_id):
                    raise Conflict("The room is archived", code="conflict")
                file_id = await files.insert(tx, final, key, purpose="attachment",
                                             quota=settings.storage_quota_bytes, room_id=room_id)
                row = await tx.one(
                    "SELECT id, room_id, file_name, size, content_type FROM public.stored_files"
                    " WHERE id = :id", id=file_id)
    return _attachment(row)


async def open_attachment(
    rt: Runtime, caller: Caller, room_id: UUID, file_id: UUID
) -> files.StoredFile:
    """The attachment's file if the caller participates in its room (RLS); 404 otherwise."""
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            f"SELECT {files.FILE_COLUMNS} FROM public.stored_files f"
            " WHERE f.id = :id AND f.room_id = :room_id AND f.purpose = 'attachment'",
            id=file_id, room_id=room_id)
    if row is None:
        raise NotFound("No such attachment", code="attachment_not_found")
    return files.StoredFile.from_row(row, prefix="file_")


# --- realtime: positions and replays for the gateway -------------------------------------


async def room_position(rt: Runtime, caller: Caller, room_id: UUID) -> int | None:
    """The room's last event ``seq`` (0 before any), or None when the caller is not a
    participant."""
    async with rt.transaction(caller) as tx:
        row = await tx.one(queries.ROOM_POSITION, room_id=room_id)
    if not row["member"]:
        return None
    return row["current"] or 0


async def room_events_after(
    rt: Runtime, caller: Caller, room_id: UUID, after: int, upto: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` stored events of the room with ``after < seq <= upto`` in order, as
    the caller sees them (RLS), and whether the caller is still a participant. Events
    pruned by ``chat.prune_events`` are missing: the first one returned may then come
    after a gap."""
    async with rt.transaction(caller) as tx:
        rows = await tx.all(queries.EVENTS_AFTER, room_id=room_id, after=after, upto=upto,
                            limit=limit)
        member = await tx.scalar("SELECT public.is_room_member(:room_id)", room_id=room_id)
    return [events.room_event(r) for r in rows], bool(member)


# --- read state and export ----------------------------------------------------------------


async def mark_read(
    rt: Runtime, caller: Caller, room_id: UUID, data: ReadUpdate
) -> ReadState:
    """Move the caller's read position forward (to ``data.seq`` or the latest message); the
    unread count is the one the room list shows (muted rooms and people, requests)."""
    async with _write(rt, caller) as tx:
        row = await tx.one(queries.MARK_READ, room_id=room_id, seq=data.seq)
    return ReadState(room_id=room_id, last_read_seq=row["last_read_seq"], unread_count=row["unread_count"])


def _export_line(row: Mapping[str, Any]) -> str:
    stamp = row["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = row["sender_username"] or "unknown"
    if row["message_type"] == "system":
        return f"[{stamp}] * {row['content']}"
    if row["deleted_at"] is not None:
        return f"[{stamp}] {who}: (message deleted)"
    text = row["content"]
    if row["message_type"] in ("image", "file"):
        text = f"[{row['message_type']}: {row['file_url']}] {text}".rstrip()
    if row["edited_at"] is not None:
        text += " (edited)"
    return f"[{stamp}] {who}: {text}"


# Messages read per transaction while a history is exported.
EXPORT_PAGE = 2000


async def export_room(rt: Runtime, caller: Caller, room_id: UUID
                      ) -> tuple[AsyncIterator[str], str]:
    """The whole history as plain text, to be sent as it is read: ``(its parts, file name)``.
    404 before anything is sent; then the messages up to the last one when it began, a page
    of :data:`EXPORT_PAGE` per transaction (each as the caller, so one who leaves the room
    meanwhile gets no more), so that neither memory nor a transaction grows with the room."""
    async with rt.transaction(caller) as tx:
        room = await _read_room(tx, room_id)
        upto = await tx.scalar(queries.EXPORT_UPTO, room_id=room_id)
    title = room.name if room.type == "group" else f"Chat with {room.peer.username if room.peer else 'unknown'}"

    async def parts() -> AsyncIterator[str]:
        yield f"# {title}\n# Exported {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n\n"
        after = 0
        while after < upto:
            async with rt.transaction(caller) as tx:
                rows = await tx.all(queries.EXPORT, room_id=room_id, after=after, upto=upto,
                                    limit=EXPORT_PAGE)
            if not rows:
                return
            yield "".join(_export_line(r) + "\n" for r in rows)
            after = rows[-1]["seq"]

    return parts(), f"chat-{room_id}.txt"
