from __future__ import annotations

from typing import Annotated

from fastapi import Query

from focushub.core.deps import CallerDep, RuntimeDep
from focushub.core.jsonsql import JSONBytes
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.search import service
from focushub.search.schemas import SearchHit, SearchParams

router = Router(prefix="/api/v1/search", tags=["search"])


@router.get("", response_model=Page[SearchHit])
async def search(
    params: Annotated[SearchParams, Query()], caller: CallerDep, rt: RuntimeDep
) -> JSONBytes:
    """Matches you may not see (hidden by a moderator, behind a block) keep their place in a
    page without being shown, so a page may hold fewer hits than ``limit``, even none: page
    on while ``next_cursor`` is not null."""
    return JSONBytes(await service.search_json(rt, caller, params))
