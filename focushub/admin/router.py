"""The admin API: ``/api/v1/admin/...`` (403 for anyone but administrators)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from focushub.admin import service
from focushub.admin.schemas import (
    AdminStats,
    AdminUserListParams,
    AdminUserRead,
    AdminUserUpdate,
    AuditEntry,
)
from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.pagination import Page

router = APIRouter(prefix="/api/v1/admin", tags=["admin"],
                   responses={403: {"description": "Not an administrator"}})


@router.get("/stats", response_model=AdminStats)
async def stats(caller: UserDep, rt: RuntimeDep) -> AdminStats:
    """Totals over the whole platform, growth, the job queue."""
    return await service.stats(rt, caller)


@router.get("/users", response_model=Page[AdminUserRead])
async def users(params: Annotated[AdminUserListParams, Query()], caller: UserDep,
                rt: RuntimeDep) -> Page[AdminUserRead]:
    return await service.list_users(rt, caller, params)


@router.patch("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
              response_class=Response)
async def update_user(user_id: UUID, data: AdminUserUpdate, caller: UserDep,
                      rt: RuntimeDep) -> Response:
    """Change a role or deactivate / reactivate (takes effect at once; logged)."""
    await service.update_user(rt, caller, user_id, data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit-log", response_model=list[AuditEntry])
async def audit_log(caller: UserDep, rt: RuntimeDep,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[AuditEntry]:
    return await service.audit_log(rt, caller, limit)
