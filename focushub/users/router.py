from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from focushub.core.deps import CallerDep, EngineDep, UserDep
from focushub.users import service
from focushub.users.schemas import UserMe, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserMe)
async def read_me(caller: UserDep, engine: EngineDep) -> UserMe:
    return await service.get_me(engine, caller)


@router.patch("/me", response_model=UserMe)
async def update_me(data: UserUpdate, caller: UserDep, engine: EngineDep) -> UserMe:
    return await service.update_me(engine, caller, data)


@router.get("/{username}", response_model=UserRead)
async def read_user(
    username: Annotated[str, Path(min_length=1, max_length=50)], caller: CallerDep, engine: EngineDep
) -> UserRead:
    return await service.get_by_username(engine, caller, username)
