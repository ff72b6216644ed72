from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import File, Path, Query, Request, Response, UploadFile

from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.core.errors import ErrorRead, NotFound
from focushub.core.routing import Router
from focushub.files import service as files_service
from focushub.files.responses import CSP
from focushub.files.schemas import StorageUsage
from focushub.integrations.storage import ObjectMissing
from focushub.users import service
from focushub.users.schemas import PrivacyRead, PrivacyUpdate, UserMe, UserProfile, UserUpdate

router = Router(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserMe)
async def read_me(caller: UserDep, rt: RuntimeDep) -> UserMe:
    return await service.get_me(rt, caller)


@router.patch("/me", response_model=UserMe)
async def update_me(data: UserUpdate, caller: UserDep, rt: RuntimeDep) -> UserMe:
    return await service.update_me(rt, caller, data)


@router.put("/me/avatar", response_model=UserMe, responses={
    413: {"model": ErrorRead, "description": "Over the size limit or the storage quota"},
    415: {"model": ErrorRead, "description": "Not a PNG, JPEG, GIF or WebP image"},
    422: {"model": ErrorRead, "description": "Empty, undecodable, or a bad file name"}})
async def set_avatar(
    caller: UserDep, rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF or WebP")],
) -> UserMe:
    """Stored without metadata (EXIF location included), at 512, 128 and 48 px."""
    return await service.set_avatar(rt, caller, file.file, file.filename)


@router.get("/{user_id}/avatar", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}},
                             "description": "The avatar"},
                       304: {"description": "Not modified (If-None-Match)"}})
async def read_avatar(
    user_id: UUID, caller: CallerDep, rt: RuntimeDep, request: Request,
    size: Annotated[int, Query(ge=1, le=4096, description="Pixels; the smallest stored size "
                                                           "(48, 128, 512) that covers it")] = 128,
) -> Response:
    stored = next((s for s in sorted(service.AVATAR_SIZES) if s >= size), max(service.AVATAR_SIZES))
    key, content_type, etag = await service.open_avatar(rt, caller, user_id, stored)
    # private: whether it is there depends on the caller (blocks, 0053).
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300",
               "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    try:
        data = b"".join([chunk async for chunk in rt.storage.read(key)])
    except ObjectMissing:
        raise NotFound("The avatar is missing from storage", code="avatar_not_found") from None
    return Response(data, media_type=content_type, headers=headers)


@router.get("/me/storage", response_model=StorageUsage)
async def read_my_storage(caller: UserDep, rt: RuntimeDep) -> StorageUsage:
    """How much the caller's uploaded files take, and their quota."""
    return await files_service.storage_usage(rt, caller)


@router.get("/me/privacy", response_model=PrivacyRead)
async def read_my_privacy(caller: UserDep, rt: RuntimeDep) -> PrivacyRead:
    return await service.get_privacy(rt, caller)


@router.patch("/me/privacy", response_model=PrivacyRead)
async def update_my_privacy(data: PrivacyUpdate, caller: UserDep, rt: RuntimeDep) -> PrivacyRead:
    """Who sees your profile, whether it shows your email, who may start a chat with you.
    Enforced by the database wherever the data is read."""
    return await service.update_privacy(rt, caller, data)


@router.get("/{user}", response_model=UserProfile)
async def read_user(
    user: Annotated[str, Path(min_length=1, max_length=50, description="A username or an id")],
    caller: CallerDep, rt: RuntimeDep,
) -> UserProfile:
    """A public profile with its counts and whether you follow them."""
    return await service.get_profile(rt, caller, user)
