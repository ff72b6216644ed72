from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.users import service
from focushub.users.schemas import UserMe, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserMe)
async def read_me(caller: UserDep, rt: RuntimeDep) -> UserMe:
    return await service.get_me(rt, caller)


@router.patch("/me", response_model=UserMe)
async def update_me(data: UserUpdate, caller: UserDep, rt: RuntimeDep) -> UserMe:
    return await service.update_me(rt, caller, data)


@router.get("/{username}", response_model=UserRead)
async def read_user(
    username: Annotated[str, Path(min_length=1, max_length=50)], caller: CallerDep, rt: RuntimeDep
) -> UserRead:
    return await service.get_by_username(rt, caller, username)
