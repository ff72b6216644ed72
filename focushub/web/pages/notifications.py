"""Notifications: the list, the header's badge, opening one, marking them read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from focushub.core.routing import Router
from focushub.notifications import service as notifications_service
from focushub.notifications.schemas import (
    NotificationListParams,
    NotificationMarkRead,
)
from focushub.web.kit import (
    PageDep,
    RtDep,
    guard,
    need_login,
    redirect,
    render,
    safe_next,
    templates,
    urlquote,
)

router = Router(include_in_schema=False)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, page: PageDep, rt: RtDep,
                             cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    if (gone := need_login(request, page)) is not None:
        return gone
    # "Mark all as read" marks what had come when the page was shown (its form carries the
    # time): a notification arriving while the reader looks, or an action joining a shown
    # one, stays unread.
    shown_at = datetime.now(UTC)
    result = await notifications_service.list_notifications(
        rt, page.caller, NotificationListParams(cursor=cursor))
    return render(request, page, "notifications.html", items=result.items,
                  next_cursor=result.next_cursor, shown_at=shown_at.isoformat())


def _id(value: object) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _notification_link(data: dict[str, Any] | None) -> str | None:
    """The page a notification is about, from the ids its ``data`` carries (0007, 0023:
    ``target_type``/``target_id``, ``post_id``, ``comment_id``, ``question_id``,
    ``answer_id``, a chat room, the actors); None when it names nothing to open."""
    data = data or {}
    target, target_id = data.get("target_type"), _id(data.get("target_id"))
    post, question = _id(data.get("post_id")), _id(data.get("question_id"))
    comment = _id(data.get("comment_id")) or (target_id if target == "comment" else None)
    answer = _id(data.get("answer_id")) or (target_id if target == "answer" else None)
    room = _id(data.get("room_id") or data.get("room"))
    if post is None and target == "post":
        post = target_id
    if question is None and target == "question":
        question = target_id
    if post is not None:
        return (f"/posts/{post}?comment={comment}#comment-{comment}" if comment
                else f"/posts/{post}")
    if question is not None:
        return (f"/questions/{question}?answer={answer}#answer-{answer}" if answer
                else f"/questions/{question}")
    if target == "resource" and target_id is not None:
        return f"/resources/{target_id}"
    if room is not None:
        return f"/chat/{room}"
    if data.get("kind") == "account_export":
        return "/settings/account#export-heading"
    actors = data.get("actors") or []
    actor = actors[0] if actors and isinstance(actors[0], dict) else data.get("actor")
    if isinstance(actor, dict) and isinstance(actor.get("username"), str):
        return f"/u/{urlquote(actor['username'])}"
    return None


templates.env.filters["notification_link"] = _notification_link


@router.get("/notifications/badge", response_class=HTMLResponse)
async def unread_badge(request: Request, page: PageDep, rt: RtDep) -> Response:
    """The header's unread count (htmx fragment, refreshed every 30 s)."""
    count = (await notifications_service.unread_count(rt, page.caller)).count \
        if page.signed_in else 0
    return render(request, page, "_badge.html", count=count)


@router.get("/notifications/{notification_id}/open")
async def open_notification(request: Request, page: PageDep, rt: RtDep, notification_id: UUID,
                            to: Annotated[str, Query(max_length=500)] = "/notifications"
                            ) -> Response:
    """An unread notification's link: marks it read, then goes to what it is about (``to``,
    a path on this site). Someone else's id marks nothing (RLS hides it)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    await notifications_service.mark_read(rt, page.caller,
                                          NotificationMarkRead(ids=[notification_id]))
    return redirect(request, page, safe_next(to))


@router.post("/notifications/read")
async def read_all(request: Request, page: PageDep, rt: RtDep,
                   csrf_token: Annotated[str, Form()] = "",
                   until: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Marks read what the page showed: every notification whose latest action came by
    ``until`` (when the page was made); without it, all."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        shown_at = datetime.fromisoformat(until) if until else None
    except ValueError:
        shown_at = None
    if shown_at is not None and shown_at.tzinfo is None:
        shown_at = None
    await notifications_service.mark_read(rt, page.caller,
                                          NotificationMarkRead(all=True, until=shown_at))
    return redirect(request, page, "/notifications")


