"""Notifications of the signed-in user. Fixed paths only (no ``/{id}``), so none can shadow another."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from focushub.core.deps import EngineDep, UserDep
from focushub.core.pagination import Page
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

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("", response_model=Page[NotificationRead])
async def list_notifications(
    params: Annotated[NotificationListParams, Query()], caller: UserDep, engine: EngineDep
) -> Page[NotificationRead]:
    return await service.list_notifications(engine, caller, params)


@router.get("/unread-count", response_model=UnreadCountRead)
async def read_unread_count(caller: UserDep, engine: EngineDep) -> UnreadCountRead:
    return await service.unread_count(engine, caller)


@router.post("/read", response_model=MarkReadResult)
async def mark_read(data: NotificationMarkRead, caller: UserDep, engine: EngineDep) -> MarkReadResult:
    return await service.mark_read(engine, caller, data)


@router.get("/preferences", response_model=NotificationPreferencesRead)
async def read_preferences(caller: UserDep, engine: EngineDep) -> NotificationPreferencesRead:
    return await service.get_preferences(engine, caller)


@router.patch("/preferences", response_model=NotificationPreferencesRead)
async def update_preferences(
    data: NotificationPreferencesUpdate, caller: UserDep, engine: EngineDep
) -> NotificationPreferencesRead:
    return await service.update_preferences(engine, caller, data)
