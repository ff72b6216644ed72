"""Reports and moderation.

Anyone signed in reports what they can see (once per target while the report is
open); admins work the queue of reported targets and resolve each with one
action. The rules are the database's (0021): who may report, the snapshot, the
hide threshold, what each action does, the notification to the author and the
audit log entry. A moderated chat message is soft-deleted, so its room hears of
it like any deletion (the chat events its transaction wrote are published on
commit).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from focushub.chat import events as chat_events
from focushub.core import observability
from focushub.core.db import Caller
from focushub.core.errors import Forbidden, NotFound
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.reports import queries
from focushub.reports.schemas import (
    ModerationCreate,
    ModerationRead,
    ModerationSettingsRead,
    ModerationSettingsUpdate,
    QueueItem,
    QueueParams,
    ReportCreate,
    ReportListParams,
    ReportRead,
    ReportTarget,
)
from focushub.safety import limits


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def check_target(rt: Runtime, caller: Caller, target_type: ReportTarget,
                       target_id: UUID) -> None:
    """404 unless the caller can see what they would report (the form asks first)."""
    async with rt.transaction(caller) as tx:
        if not await tx.scalar(queries.TARGET_VISIBLE, type=target_type, id=target_id):
            raise NotFound("There is nothing to report here", code="report_target_not_found")


async def create_report(rt: Runtime, caller: Caller, data: ReportCreate) -> ReportRead:
    """Report a target the caller can see (404 otherwise, as for any unseen row); 429 over
    the caller's rate of reports (``FOCUSHUB_WRITE_RATE_REPORT``, ``_NEW_REPORT``)."""
    await limits.check_write(rt, caller, "report")
    async with rt.transaction(caller) as tx:
        if not await tx.scalar(queries.TARGET_VISIBLE, type=data.target_type, id=data.target_id):
            raise NotFound("There is nothing to report here", code="report_target_not_found")
        row = await tx.one(queries.CREATE, type=data.target_type, id=data.target_id,
                           reason=data.reason, details=data.details)
    return ReportRead.model_validate(dict(row))


async def my_reports(rt: Runtime, caller: Caller, params: ReportListParams) -> Page[ReportRead]:
    after_created: datetime | None = None
    after_id: UUID | None = None
    if params.cursor:
        after_created, after_id = decode_cursor(params.cursor, (datetime, UUID))
    async with rt.transaction(caller) as tx:
        rows = await tx.all(queries.MINE, after_created=after_created, after_id=after_id,
                            limit=params.limit + 1)
    page, next_cursor = page_of(rows, params.limit, lambda r: [r["created_at"], r["id"]])
    return Page[ReportRead](items=[ReportRead.model_validate(dict(r)) for r in page],
                            next_cursor=next_cursor)


async def _require_admin(tx: Any) -> None:
    # The policies would show a non-admin an empty queue; say why instead.
    if not await tx.scalar("SELECT focushub_auth.is_admin()"):
        raise Forbidden("Administrators only", code="not_admin")


async def queue(rt: Runtime, caller: Caller, params: QueueParams,
                scope: str | None = None) -> Page[QueueItem]:
    """Targets with open reports, most reported first. ``scope`` names the list for its
    cursors when another path than the one read shows a page of it (see ``page_of``)."""
    after: list[Any] = [None, None, None]
    if params.cursor:
        after = decode_cursor(params.cursor, (int, datetime, UUID), scope)
    async with rt.transaction(caller) as tx:
        await _require_admin(tx)
        rows = await tx.all(queries.QUEUE, after_n=after[0], after_first=after[1],
                            after_id=after[2], limit=params.limit + 1)
    page, next_cursor = page_of(
        rows, params.limit,
        lambda r: [r["open_reports"], r["first_reported_at"], r["target_id"]], scope)
    items = []
    for r in page:
        data = dict(r)
        data["reasons"] = dict(Counter(_json(data["reasons"])))
        data["snapshot"] = _json(data["snapshot"]) or {}
        data["details"] = list(data["details"] or [])
        items.append(QueueItem.model_validate(data))
    return Page[QueueItem](items=items, next_cursor=next_cursor)


async def moderate(rt: Runtime, caller: Caller, target_type: ReportTarget, target_id: UUID,
                   data: ModerationCreate) -> ModerationRead:
    """Resolve every open report of a target with one action (logged, author notified)."""
    async with rt.transaction(caller) as tx:
        if target_type is ReportTarget.chat_message:
            tx.before_commit(chat_events.publish_transaction_events)
        result = await tx.scalar(
            queries.MODERATE, type=target_type, id=target_id, action=data.action,
            reason=data.reason, until=data.suspend_until, rid=observability.request_id.get())
    return ModerationRead.model_validate(_json(result))


async def get_settings(rt: Runtime, caller: Caller) -> ModerationSettingsRead:
    async with rt.transaction(caller) as tx:
        await _require_admin(tx)
        row = await tx.one(queries.SETTINGS)
    return ModerationSettingsRead.model_validate(dict(row))


async def update_settings(rt: Runtime, caller: Caller,
                          data: ModerationSettingsUpdate) -> ModerationSettingsRead:
    async with rt.transaction(caller) as tx:
        await tx.execute(queries.SET_THRESHOLD, n=data.hide_threshold, reason=data.reason,
                         rid=observability.request_id.get())
        row = await tx.one(queries.SETTINGS)
    return ModerationSettingsRead.model_validate(dict(row))
