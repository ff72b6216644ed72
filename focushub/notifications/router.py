"""Notifications of the signed-in user. Fixed paths only (no ``/{id}``), so none can shadow another."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.notifications import service
from focushub.notifications.schemas import (
    MarkReadResult,
    NotificationListParams,
    NotificationMarkRead,
    NotificationPreferencesRead,
    NotificationPreferencesUpdate,
    NotificationRead,
    UnreadCountRead,
)

router = Router(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("", response_model=Page[NotificationRead])
async def list_notifications(
    params: Annotated[NotificationListParams, Query()], caller: UserDep, rt: RuntimeDep
) -> Page[NotificationRead]:
    return await service.list_notifications(rt, caller, params)


@router.get("/unread-count", response_model=UnreadCountRead)
async def read_unread_count(caller: UserDep, rt: RuntimeDep) -> UnreadCountRead:
    return await service.unread_count(rt, caller)


@router.post("/read", response_model=MarkReadResult)
async def mark_read(data: NotificationMarkRead, caller: UserDep, rt: RuntimeDep) -> MarkReadResult:
    return await service.mark_read(rt, caller, data)


@router.get("/preferences", response_model=NotificationPreferencesRead)
async def read_preferences(caller: UserDep, rt: RuntimeDep) -> NotificationPreferencesRead:
    return await service.get_preferences(rt, caller)


@router.patch("/preferences", response_model=NotificationPreferencesRead)
async def update_preferences(
    data: NotificationPreferencesUpdate, caller: UserDep, rt: RuntimeDep
) -> NotificationPreferencesRead:
    return await service.update_preferences(rt, caller, data)
