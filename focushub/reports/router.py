"""Reports: ``/api/v1/reports`` for everyone signed in. The moderation queue and its
actions are admin routes (focushub/admin/router.py) over this domain's service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.reports import service
from focushub.reports.schemas import ReportCreate, ReportListParams, ReportRead

router = Router(prefix="/api/v1/reports", tags=["reports"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReportRead)
async def create_report(data: ReportCreate, caller: UserDep, rt: RuntimeDep) -> ReportRead:
    """Report a post, comment, question, answer, AI answer, chat message, resource or
    user you can see. 409 ``already_reported`` while your report of it is open."""
    return await service.create_report(rt, caller, data)


@router.get("", response_model=Page[ReportRead])
async def my_reports(params: Annotated[ReportListParams, Query()], caller: UserDep,
                     rt: RuntimeDep) -> Page[ReportRead]:
    """Your own reports and where they stand."""
    return await service.my_reports(rt, caller, params)
