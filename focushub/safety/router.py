"""Block and mute people (``/api/v1/users/{id}/block|mute``), mute rooms
(``/api/v1/chat/rooms/{id}/mute``), and list one's own blocks and mutes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Response, status

from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.safety import service
from focushub.safety.schemas import BlockListParams, BlockRead

router = Router(prefix="/api/v1", tags=["safety"])

NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}


_PAGED = ("A page, newest first, as every list: `items`, and `next_cursor` to pass as `cursor`"
          " for the next one (null on the last). It was a bare array of at most 1,000 before.")


@router.get("/users/me/blocks", response_model=Page[BlockRead], description=(
    "Everyone you blocked. " + _PAGED))
async def my_blocks(params: Annotated[BlockListParams, Query()], caller: UserDep,
                    rt: RuntimeDep) -> Page[BlockRead]:
    return await service.list_page(rt, caller, "block", params)


@router.get("/users/me/mutes", response_model=Page[BlockRead], description=(
    "Everyone you muted. " + _PAGED))
async def my_mutes(params: Annotated[BlockListParams, Query()], caller: UserDep,
                   rt: RuntimeDep) -> Page[BlockRead]:
    return await service.list_page(rt, caller, "mute", params)


@router.put("/users/{user_id}/block", **NO_CONTENT)
async def block(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    """Neither of you sees the other's content; they cannot follow you, comment on your
    posts, message you, add you to rooms or notify you. They are not told. 422 `block_self`;
    404 `user_not_found`."""
    await service.add(rt, caller, "block", user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/users/{user_id}/block", **NO_CONTENT)
async def unblock(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.remove(rt, caller, "block", user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/users/{user_id}/mute", **NO_CONTENT)
async def mute(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    """No notifications from them and their messages are not counted unread; their
    content stays reachable. 422 `mute_self`; 404 `user_not_found`."""
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
