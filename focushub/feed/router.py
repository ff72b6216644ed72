from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from focushub.core.deps import CallerDep, RuntimeDep
from focushub.core.pagination import Page
from focushub.feed import service
from focushub.feed.schemas import FeedItemRead, FeedParams

router = APIRouter(prefix="/api/v1/feed", tags=["feed"])


@router.get("", response_model=Page[FeedItemRead])
async def read_feed(
    params: Annotated[FeedParams, Query()], caller: CallerDep, rt: RuntimeDep
) -> Page[FeedItemRead]:
    return await service.get_feed(rt, caller, params)
