"""Admin services. Access is the database's: the admin functions (0019) refuse non-admins
(403), the audit log's policy shows it to admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from focushub.admin.schemas import (
    AdminStats,
    AdminUserListParams,
    AdminUserRead,
    AdminUserUpdate,
    AuditEntry,
)
from focushub.core import observability
from focushub.core.db import SERVICE, Caller
from focushub.core.errors import Forbidden
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime


async def stats(rt: Runtime, caller: Caller) -> AdminStats:
    async with rt.transaction(caller) as tx:
        totals = await tx.scalar("SELECT public.admin_stats()")
    if isinstance(totals, str):
        totals = orjson.loads(totals)
    async with rt.transaction(SERVICE) as tx:  # the queue is service_role's (0013)
        jobs = {r["status"]: r["n"] for r in await tx.all(
            "SELECT status::text AS status, count(*) AS n FROM procrastinate.procrastinate_jobs"
            " GROUP BY 1")}
    asked = totals["questions"]
    return AdminStats(**totals, jobs=jobs,
                      answered_ratio=round(totals["questions_answered"] / asked, 3) if asked else None)


async def list_users(rt: Runtime, caller: Caller, params: AdminUserListParams) -> Page[AdminUserRead]:
    after_created: datetime | None = None
    after_id: UUID | None = None
    if params.cursor:
        after_created, after_id = decode_cursor(params.cursor, (datetime, UUID))
    async with rt.transaction(caller) as tx:
        rows = await tx.all(
            "SELECT * FROM public.admin_list_users(:q, :after_created, :after_id, :limit)",
            q=params.q, after_created=after_created, after_id=after_id, limit=params.limit + 1)
    page, next_cursor = page_of(rows, params.limit, lambda r: [r["created_at"], r["id"]])
    return Page[AdminUserRead](items=[AdminUserRead.model_validate(dict(r)) for r in page],
                               next_cursor=next_cursor)


async def update_user(rt: Runtime, caller: Caller, user_id: UUID, data: AdminUserUpdate) -> None:
    """Change a user's role or status (logged with the reason and the request id).
    Deactivation ends their sessions at once."""
    async with rt.transaction(caller) as tx:
        await tx.execute(
            "SELECT public.admin_update_user(:id, CAST(:role AS user_role), :active, :reason, :rid)",
            id=user_id, role=data.role, active=data.is_active, reason=data.reason,
            rid=observability.request_id.get())


async def audit_log(rt: Runtime, caller: Caller, limit: int = 50) -> list[AuditEntry]:
    async with rt.transaction(caller) as tx:
        # The policy shows non-admins nothing; say so instead of an empty list.
        if not await tx.scalar("SELECT auth.is_admin()"):
            raise Forbidden("Administrators only", code="not_admin")
        rows = await tx.all("SELECT * FROM public.audit_log ORDER BY at DESC, id DESC LIMIT :n",
                            n=limit)
    out = []
    for r in rows:
        data: dict[str, Any] = dict(r)
        if isinstance(data["details"], str):
            data["details"] = orjson.loads(data["details"])
        out.append(AuditEntry.model_validate(data))
    return out
