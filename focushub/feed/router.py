from __future__ import annotations

from typing import Annotated

from fastapi import Query

from focushub.core.deps import CallerDep, RuntimeDep
from focushub.core.jsonsql import JSONBytes
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.feed import service
from focushub.feed.schemas import FeedItemRead, FeedParams

router = Router(prefix="/api/v1/feed", tags=["feed"])


@router.get("", response_model=Page[FeedItemRead])
async def read_feed(
    params: Annotated[FeedParams, Query()], caller: CallerDep, rt: RuntimeDep
) -> JSONBytes:
    return JSONBytes(await service.get_feed_json(rt, caller, params))
