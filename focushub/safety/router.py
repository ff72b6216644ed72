"""Block and mute people (``/api/v1/users/{id}/block|mute``), mute rooms
(``/api/v1/chat/rooms/{id}/mute``), and list one's own blocks and mutes."""

from __future__ import annotations

from uuid import UUID

from fastapi import Response, status

from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.routing import Router
from focushub.safety import service
from focushub.safety.schemas import BlockRead

router = Router(prefix="/api/v1", tags=["safety"])

NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}


@router.get("/users/me/blocks", response_model=list[BlockRead])
async def my_blocks(caller: UserDep, rt: RuntimeDep) -> list[BlockRead]:
    return await service.listing(rt, caller, "block")


@router.get("/users/me/mutes", response_model=list[BlockRead])
async def my_mutes(caller: UserDep, rt: RuntimeDep) -> list[BlockRead]:
    return await service.listing(rt, caller, "mute")


@router.put("/users/{user_id}/block", **NO_CONTENT)
async def block(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    """Neither of you sees the other's content; they cannot follow you, comment on your
    posts, message you, add you to rooms or notify you. They are not told."""
    await service.add(rt, caller, "block", user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/users/{user_id}/block", **NO_CONTENT)
async def unblock(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.remove(rt, caller, "block", user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/users/{user_id}/mute", **NO_CONTENT)
async def mute(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    """No notifications from them and their messages are not counted unread; their
    content stays reachable."""
    await service.add(rt, caller, "mute", user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/users/{user_id}/mute", **NO_CONTENT)
async def unmute(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.remove(rt, caller, "mute", user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/chat/rooms/{room_id}/mute", **NO_CONTENT)
async def mute_room(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    """The room's messages no longer count as unread."""
    await service.mute_room(rt, caller, room_id, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/chat/rooms/{room_id}/mute", **NO_CONTENT)
async def unmute_room(room_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.mute_room(rt, caller, room_id, False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
