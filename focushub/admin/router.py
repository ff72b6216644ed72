"""The admin API: ``/api/v1/admin/...`` (403 for anyone but administrators)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Response, status

from focushub.admin import service
from focushub.admin.schemas import (
    AdminStats,
    AdminUserListParams,
    AdminUserRead,
    AdminUserUpdate,
    AuditEntry,
    AuditLogParams,
    EndSessions,
    EndSessionsRead,
    SpamSignal,
)
from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.errors import ErrorRead
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.reports import service as reports
from focushub.reports.schemas import (
    ModerationCreate,
    ModerationRead,
    ModerationSettingsRead,
    ModerationSettingsUpdate,
    QueueItem,
    QueueParams,
    ReportTarget,
)

router = Router(prefix="/api/v1/admin", tags=["admin"],
                   responses={403: {"model": ErrorRead, "description": "Not an administrator"}})


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
    """Change a role or deactivate / reactivate (takes effect at once; logged). Reactivating
    (`is_active` true) also lifts a suspension."""
    await service.update_user(rt, caller, user_id, data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{user_id}/end-sessions", response_model=EndSessionsRead)
async def end_sessions(user_id: UUID, data: EndSessions, caller: UserDep,
                       rt: RuntimeDep) -> EndSessionsRead:
    """Force logout: every session of the user ends now, access tokens included."""
    return await service.end_sessions(rt, caller, user_id, data)


@router.get("/audit-log", response_model=Page[AuditEntry])
async def audit_log(params: Annotated[AuditLogParams, Query()], caller: UserDep,
                    rt: RuntimeDep) -> Page[AuditEntry]:
    """Newest first; filter by action (or its prefix, e.g. ``moderation.``), actor, target."""
    return await service.audit_log_page(rt, caller, params)


@router.get("/reports", response_model=Page[QueueItem])
async def report_queue(params: Annotated[QueueParams, Query()], caller: UserDep,
                       rt: RuntimeDep) -> Page[QueueItem]:
    """The moderation queue: targets with open reports, most reported first."""
    return await reports.queue(rt, caller, params)


@router.post("/reports/{target_type}/{target_id}", response_model=ModerationRead)
async def moderate(target_type: ReportTarget, target_id: UUID, data: ModerationCreate,
                   caller: UserDep, rt: RuntimeDep) -> ModerationRead:
    """Resolve every open report of a target: dismiss, hide, delete, warn, suspend or
    deactivate. The author is told the reason, never who reported."""
    return await reports.moderate(rt, caller, target_type, target_id, data)


@router.get("/moderation-settings", response_model=ModerationSettingsRead)
async def moderation_settings(caller: UserDep, rt: RuntimeDep) -> ModerationSettingsRead:
    return await reports.get_settings(rt, caller)


@router.patch("/moderation-settings", response_model=ModerationSettingsRead)
async def update_moderation_settings(data: ModerationSettingsUpdate, caller: UserDep,
                                     rt: RuntimeDep) -> ModerationSettingsRead:
    """How many open reports hide a target until review (logged)."""
    return await reports.update_settings(rt, caller, data)


@router.get("/signals", response_model=list[SpamSignal])
async def spam_signals(caller: UserDep, rt: RuntimeDep,
                       hours: Annotated[int, Query(ge=1, le=720)] = 24) -> list[SpamSignal]:
    """Accounts that many people blocked, that repeat one text, or that open chats with
    strangers, in the last ``hours`` hours: leads for the moderation queue."""
    return await service.spam_signals(rt, caller, hours)
