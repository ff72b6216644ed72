"""Chat rooms, participants, messages and read state: ``/api/v1/chat/rooms...``; the
caller's invitations and message requests: ``/api/v1/chat/invitations``, ``/api/v1/chat/requests``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import File, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from focushub.chat import service
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
)
from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.errors import ErrorRead
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.files.responses import file_response
from focushub.files.sniff import inline

router = Router(prefix="/api/v1/chat/rooms", tags=["chat"])
consent_router = Router(prefix="/api/v1/chat", tags=["chat"])


@router.post(
    "",
    response_model=RoomRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": RoomRead, "description": "The existing direct room of the two users"}},
)
async def create_room(
    data: RoomCreate, response: Response, caller: UserDep, rt: RuntimeDep
) -> RoomRead:
    room, created = await service.create_room(rt, caller, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return room


@router.get("", response_model=Page[RoomRead])
async def list_rooms(
    params: Annotated[RoomListParams, Query()], caller: UserDep, rt: RuntimeDep
) -> Page[RoomRead]:
    return await service.list_rooms(rt, caller, params)


@router.get("/{room_id}", response_model=RoomRead)
async def read_room(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> RoomRead:
    return await service.get_room(rt, caller, room_id)


@router.patch("/{room_id}", response_model=RoomRead)
async def update_room(
    room_id: UUID, data: RoomUpdate, caller: UserDep, rt: RuntimeDep
) -> RoomRead:
    return await service.update_room(rt, caller, room_id, data)


@router.get("/{room_id}/participants", response_model=list[ParticipantRead])
async def list_participants(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> list[ParticipantRead]:
    return await service.list_participants(rt, caller, room_id)


@router.post(
    "/{room_id}/participants", response_model=ParticipantRead | InvitationRead,
    status_code=status.HTTP_201_CREATED,
    responses={202: {"model": InvitationRead,
                     "description": "Invited: the person does not follow you, and joins when "
                                    "they accept"}},
)
async def add_participant(
    room_id: UUID, data: ParticipantCreate, response: Response, caller: UserDep, rt: RuntimeDep
) -> ParticipantRead | InvitationRead:
    added = await service.add_participant(rt, caller, room_id, data)
    if isinstance(added, InvitationRead):
        response.status_code = status.HTTP_202_ACCEPTED
    return added


@router.get("/{room_id}/invitations", response_model=list[InvitationRead])
async def list_room_invitations(
    room_id: UUID, caller: UserDep, rt: RuntimeDep
) -> list[InvitationRead]:
    return await service.list_room_invitations(rt, caller, room_id)


@router.delete("/{room_id}/invitations/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_invitation(
    room_id: UUID, user_id: UUID, caller: UserDep, rt: RuntimeDep
) -> Response:
    await service.withdraw_invitation(rt, caller, room_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/{room_id}/participants/{user_id}", response_model=ParticipantRead)
async def update_participant(
    room_id: UUID, user_id: UUID, data: ParticipantUpdate, caller: UserDep, rt: RuntimeDep,
) -> ParticipantRead:
    return await service.update_participant(rt, caller, room_id, user_id, data)


@router.delete("/{room_id}/participants/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_participant(
    room_id: UUID, user_id: UUID, caller: UserDep, rt: RuntimeDep
) -> Response:
    await service.remove_participant(rt, caller, room_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{room_id}/messages", response_model=MessageRead, status_code=status.HTTP_201_CREATED
)
async def send_message(
    room_id: UUID, data: MessageCreate, caller: UserDep, rt: RuntimeDep
) -> MessageRead:
    return await service.send_message(rt, caller, room_id, data)


@router.get("/{room_id}/messages", response_model=MessagePage)
async def list_messages(
    room_id: UUID, params: Annotated[MessageListParams, Query()], caller: UserDep, rt: RuntimeDep
) -> MessagePage:
    return await service.list_messages(rt, caller, room_id, params)


@router.patch("/{room_id}/messages/{message_id}", response_model=MessageRead)
async def edit_message(
    room_id: UUID, message_id: UUID, data: MessageUpdate, caller: UserDep, rt: RuntimeDep,
) -> MessageRead:
    return await service.edit_message(rt, caller, room_id, message_id, data)


@router.delete("/{room_id}/messages/{message_id}", response_model=MessageRead)
async def delete_message(
    room_id: UUID, message_id: UUID, caller: UserDep, rt: RuntimeDep
) -> MessageRead:
    return await service.delete_message(rt, caller, room_id, message_id)


@router.post("/{room_id}/read", response_model=ReadState)
async def mark_read(
    room_id: UUID, data: ReadUpdate, caller: UserDep, rt: RuntimeDep
) -> ReadState:
    return await service.mark_read(rt, caller, room_id, data)


@router.get(
    "/{room_id}/export",
    # Not PlainTextResponse as the response class: FastAPI would then document every error
    # of the operation as text/plain, and errors leave as JSON.
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "The history as plain text"}},
)
async def export_room(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> StreamingResponse:
    parts, filename = await service.export_room(rt, caller, room_id)
    return StreamingResponse(
        parts, media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/{room_id}/attachments", status_code=status.HTTP_201_CREATED,
             response_model=AttachmentRead, responses={
                 413: {"model": ErrorRead,
                       "description": "Over the size limit or the storage quota"},
                 415: {"model": ErrorRead,
                       "description": "A type not accepted, or content that disagrees with the name"},
                 422: {"model": ErrorRead,
                       "description": "Empty file, bad name, corrupt or bomb-like archive"}})
async def upload_attachment(
    room_id: UUID, caller: UserDep, rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="The file; send it with an image or file message")],
) -> AttachmentRead:
    return await service.upload_attachment(rt, caller, room_id, file.file, file.filename)


@router.get("/{room_id}/attachments/{file_id}", response_class=Response,
            responses={200: {"description": "The file"}, 206: {"description": "A byte range"},
                       304: {"description": "Not modified"},
                       416: {"model": ErrorRead, "description": "Range not satisfiable"}})
async def read_attachment(room_id: UUID, file_id: UUID, caller: UserDep, rt: RuntimeDep,
                          request: Request) -> Response:
    stored = await service.open_attachment(rt, caller, room_id, file_id)
    return await file_response(
        rt.storage, stored.storage_key, headers=request.headers,
        content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
        modified_at=stored.created_at, name=stored.file_name, inline=inline(stored.content_type))


# --- the caller's invitations and message requests ---------------------------------------


@consent_router.get("/invitations", response_model=Page[InvitationRead])
async def list_invitations(
    params: Annotated[InvitationListParams, Query()], caller: UserDep, rt: RuntimeDep
) -> Page[InvitationRead]:
    return await service.list_invitations(rt, caller, params)


@consent_router.post("/invitations/{room_id}/accept", response_model=RoomRead)
async def accept_invitation(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> RoomRead:
    return await service.accept_invitation(rt, caller, room_id, "group")


@consent_router.post("/invitations/{room_id}/decline", status_code=status.HTTP_204_NO_CONTENT)
async def decline_invitation(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.decline_invitation(rt, caller, room_id, "group")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@consent_router.get("/requests", response_model=Page[RoomRead])
async def list_requests(
    params: Annotated[RoomListParams, Query()], caller: UserDep, rt: RuntimeDep
) -> Page[RoomRead]:
    return await service.list_requests(rt, caller, params)


@consent_router.post("/requests/{room_id}/accept", response_model=RoomRead)
async def accept_request(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> RoomRead:
    return await service.accept_invitation(rt, caller, room_id, "direct")


@consent_router.post("/requests/{room_id}/decline", status_code=status.HTTP_204_NO_CONTENT)
async def decline_request(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.decline_invitation(rt, caller, room_id, "direct")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
