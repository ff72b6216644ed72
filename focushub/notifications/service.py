"""Notifications: the recipient's list, unread count, marking read, and preferences.

Notifications are *written* only in the database: ``public.notify()`` (0007),
called by triggers on votes, comments, answers, followers, posts and
questions, and ``public.notify_system()`` for jobs. They are therefore part of
the transaction of the action that causes them, whichever code path performs
it, and this module only reads and marks them. Policies (0003): a notification is visible to, and
markable by, its recipient only; nobody else can tell it exists (404 / no
effect). Preferences (0007) are one row per user, readable and writable by
that user only; no row means every type is on.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from focushub.core.db import Caller, Tx
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.notifications.schemas import (
    NOTIFICATION_TYPES,
    MarkReadResult,
    NotificationListParams,
    NotificationMarkRead,
    NotificationPreferencesRead,
    NotificationPreferencesUpdate,
    NotificationRead,
    UnreadCountRead,
)

_COLUMNS = "id, type::text AS type, title, message, data, is_read, created_at"

_UNREAD_COUNT = "SELECT count(*) FROM public.notifications WHERE user_id = auth.uid() AND NOT is_read"

# API name of a type -> its column in notification_preferences.
_PREFERENCE_COLUMNS = {kind: f"on_{kind}" for kind in NOTIFICATION_TYPES}

_PREFERENCES_SELECT = ", ".join(f"{col} AS {kind}" for kind, col in _PREFERENCE_COLUMNS.items())


async def list_notifications(
    rt: Runtime, caller: Caller, params: NotificationListParams
) -> Page[NotificationRead]:
    """The caller's notifications, most recently active first (two statements)."""
    conditions = ["user_id = auth.uid()"]
    bind: dict[str, object] = {"limit": params.limit + 1}
    if params.unread:
        conditions.append("NOT is_read")
    if params.cursor is not None:
        bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
        conditions.append("(created_at, id) < (:c_at, :c_id)")
    async with rt.transaction(caller) as tx:
        rows = await tx.all(
            f"SELECT {_COLUMNS} FROM public.notifications WHERE {' AND '.join(conditions)}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            **bind,
        )
    page, next_cursor = page_of(rows, params.limit, lambda r: (r["created_at"], r["id"]))
    return Page[NotificationRead](
        items=[NotificationRead.model_validate(dict(r)) for r in page], next_cursor=next_cursor
    )


async def unread_count(rt: Runtime, caller: Caller) -> UnreadCountRead:
    async with rt.transaction(caller) as tx:
        return UnreadCountRead(count=await tx.scalar(_UNREAD_COUNT))


async def mark_read(rt: Runtime, caller: Caller, data: NotificationMarkRead) -> MarkReadResult:
    """Mark the given notifications (or all) read. Ids that are not the caller's unread
    notifications are ignored: RLS hides other people's, so they cannot be told apart
    from ids that do not exist. With ``until``, a notification whose latest action is
    later (it arrived, or was joined by another action, after the reader's view) stays
    unread."""
    bind: dict[str, object] = {}
    conditions = ["NOT is_read"]
    if data.all:
        conditions.append("user_id = auth.uid()")
    else:
        conditions.append("id = ANY(CAST(:ids AS uuid[]))")
        bind["ids"] = list(data.ids or [])
    if data.until is not None:
        conditions.append("created_at <= :until")
        bind["until"] = data.until
    async with rt.transaction(caller) as tx:
        marked = await _count_updated(
            tx,
            "UPDATE public.notifications SET is_read = true"
            f" WHERE {' AND '.join(conditions)} RETURNING 1",
            **bind,
        )
        remaining = await tx.scalar(_UNREAD_COUNT)
    return MarkReadResult(marked=marked, unread_count=remaining)


async def _count_updated(tx: Tx, update: str, **params: object) -> int:
    return await tx.scalar(f"WITH changed AS ({update}) SELECT count(*) FROM changed", **params)


async def get_preferences(rt: Runtime, caller: Caller) -> NotificationPreferencesRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            f"SELECT {_PREFERENCES_SELECT}, updated_at FROM public.notification_preferences"
            " WHERE user_id = auth.uid()"
        )
    if row is None:
        return NotificationPreferencesRead(**{kind: True for kind in NOTIFICATION_TYPES}, updated_at=None)
    return NotificationPreferencesRead.model_validate(dict(row))


async def update_preferences(
    rt: Runtime, caller: Caller, data: NotificationPreferencesUpdate
) -> NotificationPreferencesRead:
    """Turn the given types on or off; the others keep their value (on, if never set)."""
    changes = {kind: value for kind, value in data.model_dump(exclude_unset=True).items()}
    if not changes:
        return await get_preferences(rt, caller)
    columns = [_PREFERENCE_COLUMNS[kind] for kind in changes]
    async with rt.transaction(caller) as tx:
        row = await tx.one(
            f"INSERT INTO public.notification_preferences (user_id, {', '.join(columns)})"
            f" VALUES (auth.uid(), {', '.join(':' + kind for kind in changes)})"
            f" ON CONFLICT (user_id) DO UPDATE SET"
            f" {', '.join(f'{col} = EXCLUDED.{col}' for col in columns)}"
            f" RETURNING {_PREFERENCES_SELECT}, updated_at",
            **changes,
        )
    return NotificationPreferencesRead.model_validate(dict(row))


async def get_notification(rt: Runtime, caller: Caller, notification_id: UUID) -> NotificationRead | None:
    """One of the caller's notifications (None when it is not theirs or is gone)."""
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            f"SELECT {_COLUMNS} FROM public.notifications WHERE id = :id", id=notification_id)
    return NotificationRead.model_validate(dict(row)) if row is not None else None
