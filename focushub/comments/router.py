from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Response, status

from focushub.comments import service
from focushub.comments.schemas import CommentCreate, CommentListParams, CommentRead, CommentUpdate
from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.core.jsonsql import JSONBytes, model_json
from focushub.core.pagination import Page
from focushub.core.routing import Router

router = Router(prefix="/api/v1", tags=["comments"])


@router.get("/posts/{post_id}/comments", response_model=Page[CommentRead])
async def list_post_comments(
    post_id: UUID,
    params: Annotated[CommentListParams, Query()],
    caller: CallerDep,
    rt: RuntimeDep,
) -> Page[CommentRead]:
    return await service.list_post_comments(rt, caller, post_id, params)


@router.post(
    "/posts/{post_id}/comments", status_code=status.HTTP_201_CREATED, response_model=CommentRead
)
async def create_comment(
    post_id: UUID, data: CommentCreate, caller: UserDep, rt: RuntimeDep
) -> JSONBytes:
    return model_json(await service.create_comment(rt, caller, post_id, data),
                      status_code=status.HTTP_201_CREATED)


@router.get("/comments/{comment_id}/replies", response_model=Page[CommentRead])
async def list_replies(
    comment_id: UUID,
    params: Annotated[CommentListParams, Query()],
    caller: CallerDep,
    rt: RuntimeDep,
) -> Page[CommentRead]:
    return await service.list_replies(rt, caller, comment_id, params)


@router.patch("/comments/{comment_id}", response_model=CommentRead)
async def update_comment(
    comment_id: UUID, data: CommentUpdate, caller: UserDep, rt: RuntimeDep
) -> CommentRead:
    return await service.update_comment(rt, caller, comment_id, data)


@router.delete(
    "/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_comment(comment_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.delete_comment(rt, caller, comment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
