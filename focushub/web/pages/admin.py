"""The admin area: people, the audit log, the report queue and its actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from focushub.admin import service as admin_service
from focushub.admin.schemas import AdminUserListParams, AdminUserUpdate, AuditLogParams, EndSessions
from focushub.core.errors import AppError, as_app_error
from focushub.core.routing import Router
from focushub.core.runtime import Runtime
from focushub.reports import service as reports_service
from focushub.reports.schemas import (
    ModerationCreate,
    ModerationSettingsUpdate,
    QueueParams,
    ReportTarget,
)
from focushub.web.kit import (
    PageDep,
    RtDep,
    Text,
    guard,
    need_login,
    redirect,
    render,
)
from focushub.web.session import PageSession

router = Router(include_in_schema=False)


# The audit log filter's choices: an action prefix (the service matches on it) and its label.
AUDIT_FILTERS = (("", "Everything"), ("moderation.", "Moderation"), ("user.", "Accounts"),
                 ("security.", "Security"), ("settings.", "Settings"))


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request, page: PageDep, rt: RtDep,
                     q: Annotated[str | None, Query(max_length=100)] = None,
                     action: Annotated[str | None, Query(max_length=100)] = None,
                     ended: Annotated[int | None, Query(ge=0)] = None,
                     cursor: Annotated[str | None, Query(max_length=500)] = None,
                     audit_cursor: Annotated[str | None, Query(max_length=500)] = None,
                     ) -> Response:
    """For administrators; anyone else gets 403 from the database's admin functions.
    ``action`` filters the audit log by an action or a prefix ending in a dot. The people
    and the audit log page on separately (``cursor``, ``audit_cursor``), each keeping the
    other's filter."""
    if (gone := need_login(request, page)) is not None:
        return gone
    totals = await admin_service.stats(rt, page.caller)
    users = await admin_service.list_users(rt, page.caller,
                                           AdminUserListParams(q=q or None, cursor=cursor))
    audit = await admin_service.audit_log_page(
        rt, page.caller, AuditLogParams(action=action or None, cursor=audit_cursor, limit=20))
    filters = {name: value for name, value in (("q", q), ("action", action)) if value}
    more_people = more_audit = None
    if users.next_cursor:
        more_people = "/admin?" + urlencode({**filters, "cursor": users.next_cursor}) + "#people"
    if audit.next_cursor:
        more_audit = "/admin?" + urlencode({**filters, "audit_cursor": audit.next_cursor}) \
            + "#audit"
    return render(request, page, "admin.html", totals=totals, users=users.items,
                  audit=audit.items, q=q or "", action=action or "", filters=AUDIT_FILTERS,
                  ended=ended, more_people=more_people, more_audit=more_audit,
                  later_people=cursor is not None, later_audit=audit_cursor is not None)


@router.post("/admin/users/{user_id}")
async def admin_user(request: Request, page: PageDep, rt: RtDep, user_id: UUID,
                     is_active: Annotated[bool, Form()],
                     reason: Annotated[str, Form(max_length=1000)] = "",
                     csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await admin_service.update_user(rt, page.caller, user_id,
                                    AdminUserUpdate(is_active=is_active, reason=reason or None))
    return redirect(request, page, "/admin")


@router.post("/admin/users/{user_id}/end-sessions")
async def admin_end_sessions(request: Request, page: PageDep, rt: RtDep, user_id: UUID,
                             reason: Annotated[str, Form(max_length=1000)] = "",
                             csrf_token: Annotated[str, Form()] = "") -> Response:
    """Force logout: every session of the user ends now (logged with the reason)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    ended = await admin_service.end_sessions(rt, page.caller, user_id,
                                             EndSessions(reason=reason.strip() or None))
    return redirect(request, page, f"/admin?ended={ended.tokens_revoked}#people")


QUEUE_PAGE = "/admin/reports"


async def _queue_page(request: Request, page: PageSession, rt: Runtime, cursor: str | None = None,
                      status: int = 200, errors: list[str] | None = None,
                      **context: Any) -> Response:
    # The queue is shown again by the actions' POSTs (after a refusal): its cursors are
    # the queue page's wherever it is shown, as its "More" link leads there.
    queue = await reports_service.queue(rt, page.caller, QueueParams(cursor=cursor),
                                        scope=QUEUE_PAGE)
    settings = await reports_service.get_settings(rt, page.caller)
    signals = await admin_service.spam_signals(rt, page.caller, SIGNAL_HOURS)
    refused = context.get("refused")
    if refused and not any(f"{i.target_type.value}-{i.target_id}" == refused["key"]
                           for i in queue.items):
        errors = [*(errors or []), refused["message"]]  # its item is not on this page
    return render(request, page, "admin_reports.html", status=status, items=queue.items,
                  next_cursor=queue.next_cursor, settings=settings, errors=errors,
                  actions=MODERATION_ACTIONS, signals=signals, signal_hours=SIGNAL_HOURS,
                  signal_actions=SIGNAL_ACTIONS, **context)


# Each action's button; which apply to a target is decided in the template (a person is
# not hidden or deleted; an AI answer has no author to warn, suspend or deactivate).
MODERATION_ACTIONS = (("dismiss", "Dismiss"), ("hide", "Hide"), ("delete", "Delete"),
                      ("warn", "Warn the author"), ("suspend", "Suspend the author"),
                      ("deactivate", "Deactivate the author"))
# Accounts with spam signals (admin_spam_signals, 0029) over this many hours, and what the
# queue page offers against one: moderate() on the person, reported or not.
SIGNAL_HOURS = 24
SIGNAL_ACTIONS = (("warn", "Warn"), ("suspend", "Suspend"), ("deactivate", "Deactivate"))


@router.get(QUEUE_PAGE, response_class=HTMLResponse)
async def report_queue(request: Request, page: PageDep, rt: RtDep,
                       cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """The moderation queue, most reported first, then the accounts with spam signals
    (403 for anyone but administrators)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    return await _queue_page(request, page, rt, cursor)


@router.post("/admin/reports/settings", response_class=HTMLResponse)
async def moderation_settings(request: Request, page: PageDep, rt: RtDep,
                              hide_threshold: Text = "",
                              reason: Annotated[str, Form(max_length=1000)] = "",
                              csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = ModerationSettingsUpdate(hide_threshold=int(hide_threshold.strip()),
                                        reason=reason.strip() or None)
    except (ValueError, ValidationError):  # not a whole number, or out of range
        return await _queue_page(request, page, rt, status=422, threshold_typed=hide_threshold,
                                 field_errors={"hide_threshold": "Give a whole number from 1 to "
                                                                 "1,000."})
    await reports_service.update_settings(rt, page.caller, data)
    return redirect(request, page, "/admin/reports?saved=1")


def _utc(value: str) -> datetime | None:
    """A ``datetime-local`` field's value, read as UTC (the form says so); None if empty."""
    if not value.strip():
        return None
    return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)


@router.post("/admin/reports/{target_type}/{target_id}", response_class=HTMLResponse)
async def moderate(request: Request, page: PageDep, rt: RtDep, target_type: ReportTarget,
                   target_id: UUID,
                   action: Annotated[str, Form(max_length=20)] = "",
                   reason: Annotated[str, Form(max_length=1000)] = "",
                   suspend_until: Annotated[str, Form(max_length=40)] = "",
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    """Resolve every open report of a target with one action, then back to the queue."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    # A refusal is said in the item's own form, with the reason and date typed kept (at the
    # top of the page it named no item, and the reason was gone).
    def refused(message: str) -> dict[str, Any]:
        return {"refused": {"key": f"{target_type.value}-{target_id}", "reason": reason,
                            "until": suspend_until,
                            "message": message[:1].upper() + message[1:]}}

    try:
        until = _utc(suspend_until) if action == "suspend" else None
        data = ModerationCreate(action=action, reason=reason or None, suspend_until=until)
    except ValidationError as exc:
        return await _queue_page(request, page, rt, status=422, **refused(
            " ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())))
    except ValueError:
        return await _queue_page(request, page, rt, status=422, **refused(
            "Give the end of the suspension as a date and time"))
    try:
        done = await reports_service.moderate(rt, page.caller, target_type, target_id, data)
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        if error is None or error.status_code not in (409, 422):
            raise
        return await _queue_page(request, page, rt, status=error.status_code,
                                 **refused(error.message))
    return redirect(request, page, f"/admin/reports?done={data.action}"
                                   f"&resolved={done.reports_resolved}")


