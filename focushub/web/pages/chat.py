"""Chat: rooms, requests and invitations, messages, attachments."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from focushub.chat import service as chat_service
from focushub.chat.schemas import (
    MAX_SEQ,
    InvitationListParams,
    InvitationRead,
    MessageCreate,
    MessageListParams,
    MessageRead,
    ParticipantCreate,
    ReadUpdate,
    RoomCreate,
    RoomListParams,
)
from focushub.core.errors import AppError, as_app_error
from focushub.core.routing import Router
from focushub.core.runtime import Runtime
from focushub.files.responses import file_response
from focushub.files.sniff import inline
from focushub.safety import service as safety_service
from focushub.users import service as users_service
from focushub.web import session
from focushub.web.kit import (
    PageDep,
    RtDep,
    Text,
    draft_refused,
    field_errors,
    guard,
    is_htmx,
    need_login,
    redirect,
    refusal,
    render,
    templates,
    with_retry_after,
)
from focushub.web.session import PageSession

router = Router(include_in_schema=False)


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(request: Request, page: PageDep, rt: RtDep,
                    cursor: Annotated[str | None, Query(max_length=500)] = None,
                    requests_cursor: Annotated[str | None, Query(max_length=500)] = None,
                    invitations_cursor: Annotated[str | None, Query(max_length=500)] = None,
                    ) -> Response:
    """The chat list: one's rooms, message requests and invitations, each paging on by
    itself (``?cursor=``, ``?requests_cursor=``, ``?invitations_cursor=``)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    return await _chat_list(request, page, rt, cursor=cursor, requests_cursor=requests_cursor,
                            invitations_cursor=invitations_cursor)


async def _chat_list(request: Request, page: PageSession, rt: Runtime, status: int = 200, *,
                     cursor: str | None = None, requests_cursor: str | None = None,
                     invitations_cursor: str | None = None, **context: Any) -> Response:
    rooms = await chat_service.list_rooms(rt, page.caller, RoomListParams(cursor=cursor))
    invitations = await chat_service.list_invitations(
        rt, page.caller, InvitationListParams(cursor=invitations_cursor))
    requests = await chat_service.list_requests(rt, page.caller,
                                                RoomListParams(cursor=requests_cursor))
    return render(request, page, "chat.html", status=status, rooms=rooms.items,
                  rooms_next=rooms.next_cursor, later_rooms=cursor is not None,
                  invitations=invitations.items, invitations_next=invitations.next_cursor,
                  requests=requests.items, requests_next=requests.next_cursor, **context)


@router.post("/chat/{kind}/{room_id}/{answer}")
async def answer_invitation(request: Request, page: PageDep, rt: RtDep,
                            kind: Literal["invitations", "requests"], room_id: UUID,
                            answer: Literal["accept", "decline"],
                            csrf_token: Annotated[str, Form()] = "") -> Response:
    """Accept (then open the room) or decline (back to the chat page) an invitation to a group
    or a message request."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    room_kind = "group" if kind == "invitations" else "direct"
    if answer == "decline":
        await chat_service.decline_invitation(rt, page.caller, room_id, room_kind)
        return redirect(request, page, "/chat")
    await chat_service.accept_invitation(rt, page.caller, room_id, room_kind)
    return redirect(request, page, f"/chat/{room_id}")


@router.post("/chat")
async def start_chat(request: Request, page: PageDep, rt: RtDep,
                     username: Annotated[str, Form(max_length=50)] = "",
                     name: Annotated[str, Form(max_length=255)] = "",
                     csrf_token: Annotated[str, Form()] = "") -> Response:
    """A direct chat with ``username``, or a new group called ``name``."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    wanted = username.strip().lstrip("@")
    try:
        if wanted:
            other = await users_service.get_by_username(rt, page.caller, wanted)
            if other.id == page.caller.user_id:  # the database refuses it, in its words
                return await _chat_list(
                    request, page, rt, status=422, username=wanted,
                    error=f"@{wanted} is you: a chat needs someone else's username.")
            data = RoomCreate(type="direct", user_id=other.id)
        else:
            try:
                data = RoomCreate(type="group", name=name)
            except ValidationError:
                return redirect(request, page, "/chat?error=name")
        room, _ = await chat_service.create_room(rt, page.caller, data)
    except (AppError, DBAPIError) as exc:
        # Said on the chat page: nobody by that name (or across a block: the same words),
        # or someone who takes chats only from people they follow (0028).
        # Too many new chats for now (429) is said with what was typed kept.
        error = as_app_error(exc)
        if error is None or error.status_code not in (403, 404, 429):
            raise
        message = (error.message if error.status_code == 429
                   else f"There is nobody called @{wanted} to chat with."
                   if error.status_code == 404
                   else f"You cannot start a chat with @{wanted}: {error.message}.")
        return with_retry_after(
            await _chat_list(request, page, rt, status=error.status_code, error=message,
                             username=wanted, group_name="" if wanted else name), error)
    return redirect(request, page, f"/chat/{room.id}")


def _attachment_path(file_url: str | None) -> str | None:
    """The page route of a message's attachment: ``/api/v1/chat/rooms/<room>/attachments/<id>``
    becomes ``/chat/<room>/attachments/<id>`` (the API wants a bearer token; a page's image
    or link rides the session cookie)."""
    if not file_url:
        return None
    return "/chat" + file_url.removeprefix("/api/v1/chat/rooms")


templates.env.filters["attachment_path"] = _attachment_path


async def _room_view(request: Request, page: PageSession, rt: Runtime, room_id: UUID,
                     before: int | None = None, status: int = 200, **context: Any) -> Response:
    """The room page: the latest messages (or those below ``before``), who is in the room
    with their read positions, and "Seen" under the caller's own latest message once every
    other participant has read it. Showing the latest messages marks them read."""
    room = await chat_service.get_room(rt, page.caller, room_id)
    messages = await chat_service.list_messages(rt, page.caller, room_id,
                                                MessageListParams(before=before))
    latest = before is None
    if latest and messages.items:
        await chat_service.mark_read(rt, page.caller, room_id,
                                     ReadUpdate(seq=messages.items[-1].seq))
    people = await chat_service.list_participants(rt, page.caller, room_id)
    invited = await chat_service.list_room_invitations(rt, page.caller, room_id)
    return render(request, page, "room.html", status=status, room=room,
                  messages=messages.items, older=messages.next_cursor, latest=latest,
                  seen_seq=_seen_seq(messages.items, page) if latest else None,
                  people=people, invited=invited, **context)


def _seen_seq(messages: list[MessageRead], page: PageSession) -> int | None:
    """The seq of the caller's own latest message when every other participant read it."""
    for m in reversed(messages):
        if m.sender_id == page.caller.user_id and m.message_type != "system" \
                and m.deleted_at is None:
            return m.seq if m.is_read else None
    return None


@router.get("/chat/{room_id}", response_class=HTMLResponse)
async def room_page(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None) -> Response:
    """The room. ``before``: the page of messages just earlier than that seq (a page of its
    own without JavaScript; with htmx, the messages and the next "Load earlier messages"
    link, put in place above the ones shown)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    if before is not None and is_htmx(request):
        messages = await chat_service.list_messages(rt, page.caller, room_id,
                                                    MessageListParams(before=before))
        return render(request, page, "_room_older.html", room_id=room_id,
                      messages=messages.items, older=messages.next_cursor)
    added, invited = request.query_params.get("added"), request.query_params.get("invited")
    removed = request.query_params.get("removed")
    note = (f"@{invited} is invited: they join when they accept." if invited
            else f"@{added} is in the chat now." if added
            else f"@{removed} is no longer in the chat." if removed else None)
    return await _room_view(request, page, rt, room_id, before=before, add_note=note)


@router.post("/chat/{room_id}/people")
async def add_to_room(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                      username: Annotated[str, Form(max_length=50)] = "",
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    """A group's admin adds ``username``: a member at once if they follow the admin, else
    invited (0031). Said on the room page either way, as is a name that finds nobody."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    wanted = username.strip().lstrip("@")
    try:
        other = await users_service.get_by_username(rt, page.caller, wanted)
        added = await chat_service.add_participant(rt, page.caller, room_id,
                                                   ParticipantCreate(user_id=other.id))
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        if error is None or error.status_code not in (403, 404, 409):
            raise
        message = (f"There is nobody called @{wanted} to add." if error.status_code == 404
                   else f"@{wanted} is already in this chat." if error.status_code == 409
                   else f"@{wanted} cannot be added: {error.message}.")
        return await _room_view(request, page, rt, room_id, status=error.status_code,
                                add_error=message, add_username=wanted)
    state = "invited" if isinstance(added, InvitationRead) else "added"
    return redirect(request, page, f"/chat/{room_id}?{state}={quote(wanted, safe='')}")


@router.get("/chat/{room_id}/people", response_class=HTMLResponse)
async def room_people(request: Request, page: PageDep, rt: RtDep, room_id: UUID) -> Response:
    """The room's participant list (htmx fragment; the page's script reloads it when
    someone joins, leaves or changes role)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    room = await chat_service.get_room(rt, page.caller, room_id)
    people = await chat_service.list_participants(rt, page.caller, room_id)
    invited = await chat_service.list_room_invitations(rt, page.caller, room_id)
    return render(request, page, "_room_people.html", room=room, people=people, invited=invited)


@router.post("/chat/{room_id}/people/{user_id}/remove")
async def remove_from_room(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                           user_id: UUID, username: Annotated[str, Form(max_length=50)] = "",
                           csrf_token: Annotated[str, Form()] = "") -> Response:
    """Leave a group (``user_id`` is the caller) or, as its admin or moderator, remove
    someone from it (the database decides who may remove whom: 403 otherwise). Leaving
    lands on the chat page, removing back on the room page; both say what was done."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await chat_service.remove_participant(rt, page.caller, room_id, user_id)
    if user_id == page.caller.user_id:
        return redirect(request, page, "/chat?left=1")
    return redirect(request, page, f"/chat/{room_id}?removed={quote(username, safe='')}")


@router.post("/chat/{room_id}")
async def send_chat(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    content: Text = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Sending without JavaScript (the page's script sends over the WebSocket)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = MessageCreate(content=content)
    except ValidationError as exc:
        # Said under the message box, with what was typed kept in it.
        said = ("Write a message first." if not content.strip()
                else next(iter(field_errors(exc).values())))
        return await _room_view(request, page, rt, room_id, status=422, send_error=said,
                                draft=content)
    try:
        await chat_service.send_message(rt, page.caller, room_id, data)
    except (AppError, DBAPIError) as exc:
        return draft_refused(request, page, refusal(exc, page), action=f"/chat/{room_id}",
                              noun="message", verb="sent", label="Message", content=content,
                              back=f"/chat/{room_id}#end")
    return redirect(request, page, f"/chat/{room_id}#end")


@router.post("/chat/{room_id}/messages/{message_id}/delete")
async def delete_chat_message(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                              message_id: UUID,
                              csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete one's own message (the database refuses anyone else's: 403): it stays in its
    place as "(message deleted)" for everyone, live for those with the room open."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    deleted = await chat_service.delete_message(rt, page.caller, room_id, message_id)
    return redirect(request, page, f"/chat/{room_id}#m-{deleted.seq}")


@router.post("/chat/{room_id}/read")
async def read_chat(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    seq: Annotated[int, Form(ge=0, le=MAX_SEQ)],
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Read up to ``seq`` (the page's script, for messages that arrive while it is shown)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await chat_service.mark_read(rt, page.caller, room_id, ReadUpdate(seq=seq))
    response = Response(status_code=204)
    session.write_cookies(response, request, page)
    return response


# What an attachment refused by the service is said as on the page.
ATTACHMENT_ERRORS = {413: "The file is too large", 415: "This type of file is not accepted",
                     422: "This file cannot be sent"}


@router.post("/chat/{room_id}/attachments", response_class=HTMLResponse)
async def send_attachment(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                          file: Annotated[UploadFile | None, File()] = None,
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """Upload a file and send it: an image message for images (shown in the chat), a file
    message for the rest (a download link). Its text is the file's name. A refused file
    (size, type, content) is said on the room page with the service's status."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    if file is None or not getattr(file, "filename", None):  # no file chosen
        return await _room_view(request, page, rt, room_id, status=422,
                                attach_error="Choose a file to send")
    try:
        attachment = await chat_service.upload_attachment(rt, page.caller, room_id, file.file,
                                                          file.filename)
        kind = "image" if attachment.content_type.startswith("image/") else "file"
        await chat_service.send_message(rt, page.caller, room_id, MessageCreate(
            content=attachment.name, message_type=kind, file_id=attachment.id))
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        if error is None or error.status_code not in (409, 413, 415, 422):
            raise
        lead = ATTACHMENT_ERRORS.get(error.status_code, "The file was not sent")
        return await _room_view(request, page, rt, room_id, status=error.status_code,
                                attach_error=f"{lead}: {error.message}")
    return redirect(request, page, f"/chat/{room_id}#end")


@router.get("/chat/{room_id}/attachments/{file_id}")
async def attachment(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                     file_id: UUID) -> Response:
    """An attachment of the room, for its participants (404 for anyone else), served as
    the API serves it (validators, ranges, a sandboxing policy)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    stored = await chat_service.open_attachment(rt, page.caller, room_id, file_id)
    response = await file_response(
        rt.storage, stored.storage_key, headers=request.headers,
        content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
        modified_at=stored.created_at, name=stored.file_name,
        inline=inline(stored.content_type))
    session.write_cookies(response, request, page)
    return response


@router.post("/chat/{room_id}/mute", response_class=HTMLResponse)
async def mute_room(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    muted: Annotated[bool, Form()],
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Mute or unmute a room: its messages stop (or start again) counting as unread."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await safety_service.mute_room(rt, page.caller, room_id, muted)
    if is_htmx(request):
        return render(request, page, "_room_mute.html", room_id=room_id, muted=muted, done=True)
    return redirect(request, page, f"/chat/{room_id}")


