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
    AuditLogParams,
    EndSessions,
    EndSessionsRead,
    SpamSignal,
)
from focushub.core import observability
from focushub.core.db import SERVICE, Caller
from focushub.core.errors import Forbidden
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime


async def stats(rt: Runtime, caller: Caller) -> AdminStats:
    async with rt.transaction(caller) as tx:
        totals = await tx.scalar("SELECT public.admin_stats()")
        growth = await tx.scalar("SELECT public.admin_growth(12)")
    if isinstance(totals, str):
        totals = orjson.loads(totals)
    if isinstance(growth, str):
        growth = orjson.loads(growth)
    totals.update(growth)
    async with rt.transaction(SERVICE) as tx:  # the queue is service_role's (0013)
        jobs = {r["status"]: r["n"] for r in await tx.all(
            "SELECT status::text AS status, count(*) AS n FROM procrastinate.procrastinate_jobs"
            " GROUP BY 1")}
    asked = totals["questions"]
    return AdminStats(**totals, jobs=jobs,
                      answered_ratio=round(totals["questions_answered"] / asked, 3) if asked else None)


def _literal_pattern(text: str | None) -> str | None:
    """``text`` for the ILIKE patterns of ``admin_list_users()``, matching itself: ``%``,
    ``_`` and the escape character are letters someone may search for, not wildcards."""
    if text is None:
        return None
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# admin_list_users() returns at most this many rows whatever it is asked (0019, 0041).
_LIST_USERS_MAX_ROWS = 100
_LIST_USERS = "SELECT * FROM public.admin_list_users(:q, :after_created, :after_id, :limit)"


async def list_users(rt: Runtime, caller: Caller, params: AdminUserListParams) -> Page[AdminUserRead]:
    after_created: datetime | None = None
    after_id: UUID | None = None
    if params.cursor:
        after_created, after_id = decode_cursor(params.cursor, (datetime, UUID))
    q = _literal_pattern(params.q)
    async with rt.transaction(caller) as tx:
        rows = await tx.all(_LIST_USERS, q=q, after_created=after_created, after_id=after_id,
                            limit=params.limit + 1)
        if len(rows) == params.limit == _LIST_USERS_MAX_ROWS:
            # A full page of the function's largest: the row after it, if any, is what says
            # whether there is a next page.
            last = rows[-1]
            rows = [*rows, *await tx.all(_LIST_USERS, q=q, after_created=last["created_at"],
                                         after_id=last["id"], limit=1)]
    page, next_cursor = page_of(rows, params.limit, lambda r: [r["created_at"], r["id"]])
    return Page[AdminUserRead](items=[AdminUserRead.model_validate(dict(r)) for r in page],
                               next_cursor=next_cursor)


async def update_user(rt: Runtime, caller: Caller, user_id: UUID, data: AdminUserUpdate) -> None:
    """Change a user's role or status (logged with the reason and the request id).
    Deactivation ends their sessions at once; reactivation also lifts a suspension."""
    async with rt.transaction(caller) as tx:
        await tx.execute(
            "SELECT public.admin_update_user(:id, CAST(:role AS user_role), :active, :reason, :rid)",
            id=user_id, role=data.role, active=data.is_active, reason=data.reason,
            rid=observability.request_id.get())


async def end_sessions(rt: Runtime, caller: Caller, user_id: UUID,
                       data: EndSessions) -> EndSessionsRead:
    """End every session of a user now (their access tokens stop working at once, 0018)."""
    async with rt.transaction(caller) as tx:
        revoked = await tx.scalar("SELECT public.admin_end_sessions(:id, :reason, :rid)",
                                  id=user_id, reason=data.reason,
                                  rid=observability.request_id.get())
    return EndSessionsRead(tokens_revoked=revoked)


# Each entry with the usernames of its actor and, when it is a person, its target: an
# administrator reads "by @ana" rather than an id (a deleted account's name is gone: null).
_AUDIT_LOG = """
SELECT a.*, actor.username AS actor_username, target.username AS target_username
FROM public.audit_log a
LEFT JOIN public.users actor ON actor.id = a.actor_id
LEFT JOIN public.users target ON target.id = a.target_id AND a.target_type = 'user'
WHERE (CAST(:action AS text) IS NULL OR a.action = :action
       OR (right(:action, 1) = '.' AND starts_with(a.action, :action)))
  AND (CAST(:actor AS uuid) IS NULL OR a.actor_id = :actor)
  AND (CAST(:target AS uuid) IS NULL OR a.target_id = :target)
  AND (CAST(:before AS bigint) IS NULL OR a.id < :before)
ORDER BY a.id DESC
LIMIT :limit
"""


async def audit_log(rt: Runtime, caller: Caller, limit: int = 50) -> list[AuditEntry]:
    """The latest entries (the dashboard's list)."""
    return (await audit_log_page(rt, caller, AuditLogParams(limit=limit))).items


async def audit_log_page(rt: Runtime, caller: Caller, params: AuditLogParams) -> Page[AuditEntry]:
    before = decode_cursor(params.cursor, (int,))[0] if params.cursor else None
    async with rt.transaction(caller) as tx:
        # The policy shows non-admins nothing; say so instead of an empty list.
        if not await tx.scalar("SELECT focushub_auth.is_admin()"):
            raise Forbidden("Administrators only", code="not_admin")
        rows = await tx.all(_AUDIT_LOG, action=params.action, actor=params.actor_id,
                            target=params.target_id, before=before, limit=params.limit + 1)
    page, next_cursor = page_of(rows, params.limit, lambda r: [r["id"]])
    out = []
    for r in page:
        data: dict[str, Any] = dict(r)
        if isinstance(data["details"], str):
            data["details"] = orjson.loads(data["details"])
        out.append(AuditEntry.model_validate(data))
    return Page[AuditEntry](items=out, next_cursor=next_cursor)


async def spam_signals(rt: Runtime, caller: Caller, hours: int) -> list[SpamSignal]:
    """Accounts tripping the spam signals of the last ``hours`` hours (0029), worst first."""
    async with rt.transaction(caller) as tx:
        rows = await tx.all("SELECT * FROM public.admin_spam_signals(:hours)", hours=hours)
    return [SpamSignal.model_validate(dict(r)) for r in rows]
