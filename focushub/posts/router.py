from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Response, status

from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.posts import service
from focushub.posts.schemas import PostCreate, PostListParams, PostRead, PostUpdate

router = Router(prefix="/api/v1/posts", tags=["posts"])


@router.get("", response_model=Page[PostRead])
async def list_posts(
    params: Annotated[PostListParams, Query()],
    caller: CallerDep,
    rt: RuntimeDep
) -> Page[PostRead]:
    return await service.list_posts(rt, caller, params)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PostRead)
async def create_post(
    data: PostCreate, caller: UserDep, rt: RuntimeDep
) -> PostRead:
    return await service.create_post(rt, caller, data)


@router.get("/{post_id}", response_model=PostRead)
async def read_post(
    post_id: UUID, caller: CallerDep, rt: RuntimeDep
) -> PostRead:
    return await service.get_post(rt, caller, post_id)


@router.patch("/{post_id}", response_model=PostRead)
async def update_post(
    post_id: UUID, data: PostUpdate, caller: UserDep, rt: RuntimeDep
) -> PostRead:
    return await service.update_post(rt, caller, post_id, data)


@router.delete("/{post_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_post(post_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.delete_post(rt, caller, post_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
