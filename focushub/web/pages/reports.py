"""Reporting something, and one's own reports."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from focushub.core.errors import AppError, as_app_error
from focushub.core.routing import Router
from focushub.reports import service as reports_service
from focushub.reports.schemas import (
    ReportCreate,
    ReportListParams,
    ReportTarget,
)
from focushub.web.kit import (
    PageDep,
    RtDep,
    guard,
    is_htmx,
    need_login,
    redirect,
    render,
    safe_next,
)
from focushub.web.session import PageSession

router = Router(include_in_schema=False)


REPORT_REASONS = (("spam", "Spam or advertising"), ("harassment", "Harassment or abuse"),
                  ("wrong", "Wrong or misleading"), ("other", "Something else"))


def _report_view(request: Request, page: PageSession, status: int = 200, **context: Any) -> Response:
    """The report form, or what became of it: inline (htmx) or as its own page."""
    context.setdefault("form", {})
    context["reasons"] = REPORT_REASONS
    context["label"] = context["target_type"].replace("_", " ")
    if is_htmx(request):
        # htmx swaps only 2xx answers; what the fragment says carries the outcome.
        return render(request, page, "_report_form.html", **context)
    return render(request, page, "report.html", status=status, **context)


@router.get("/report", response_class=HTMLResponse)
async def report_page(request: Request, page: PageDep, rt: RtDep, type: ReportTarget,
                      id: UUID, back: Annotated[str, Query(max_length=300)] = "/") -> Response:
    """The form to report something (a page of its own, or the fragment htmx puts in place
    of the "Report" link); 404 for what the caller cannot see, as when it is sent."""
    if (gone := need_login(request, page)) is not None:
        return gone
    await reports_service.check_target(rt, page.caller, type, id)
    return _report_view(request, page, target_type=type.value, target_id=id, back=safe_next(back))


@router.post("/report", response_class=HTMLResponse)
async def report(request: Request, page: PageDep, rt: RtDep, type: Annotated[ReportTarget, Form()],
                 id: Annotated[UUID, Form()],
                 reason: Annotated[str, Form(max_length=20)] = "",
                 details: Annotated[str, Form(max_length=1000)] = "",
                 back: Annotated[str, Form(max_length=300)] = "/",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    """Send a report. 404 for what the caller cannot see; a second open report of the same
    target, one of the caller's own, or one over the caller's rate of reports is said in
    words (409 / 422 / 429 without htmx)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    view = {"target_type": type.value, "target_id": id, "back": safe_next(back),
            "form": {"reason": reason, "details": details}}
    try:
        data = ReportCreate(target_type=type, target_id=id, reason=reason or None,
                            details=details or None)
    except ValidationError as exc:
        messages = [("Choose a reason" if e["loc"] == ("reason",) else
                     e["msg"].removeprefix("Value error, ").replace("`details`", "the details")
                     .replace("`other`", "“Something else”")) for e in exc.errors()]
        return _report_view(request, page, status=422, errors=messages, **view)
    try:
        await reports_service.create_report(rt, page.caller, data)
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        # Said in the form, which keeps what was typed: an error page would lose it, and
        # htmx does not put a 4xx answer in place at all.
        if error is None or error.status_code not in (409, 422, 429):
            raise
        if error.code == "already_reported":
            return _report_view(request, page, status=409, done="already", **view)
        return _report_view(request, page, status=error.status_code, errors=[error.message],
                            **view)
    if is_htmx(request):
        return _report_view(request, page, done="sent", **view)
    return redirect(request, page, f"/settings/reports?sent=1&back={quote(view['back'], safe='')}")


@router.get("/settings/reports", response_class=HTMLResponse)
async def my_reports(request: Request, page: PageDep, rt: RtDep,
                     cursor: Annotated[str | None, Query(max_length=500)] = None,
                     back: Annotated[str, Query(max_length=300)] = "") -> Response:
    """The caller's reports and where each stands, newest first."""
    if (gone := need_login(request, page)) is not None:
        return gone
    result = await reports_service.my_reports(rt, page.caller, ReportListParams(cursor=cursor))
    return render(request, page, "settings_reports.html", items=result.items,
                  next_cursor=result.next_cursor, back=safe_next(back) if back else "",
                  reasons=dict(REPORT_REASONS))


