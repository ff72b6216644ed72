"""The pages. Each calls the same service functions as the API, as the page's caller.

Forms post back to the page's own path and redirect after success (303), so a
reload never resubmits; every POST checks the CSRF value (``session.check_csrf``).
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import StringConstraints, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.background import BackgroundTask

from focushub.accounts import service as accounts_service
from focushub.accounts.schemas import AccountDelete, EmailChange, PasswordChange
from focushub.admin import service as admin_service
from focushub.admin.schemas import AdminUserListParams, AdminUserUpdate, AuditLogParams, EndSessions
from focushub.ai import service as ai_service
from focushub.ai.schemas import FeedbackUpdate
from focushub.answers import service as answers_service
from focushub.answers.schemas import AnswerCreate, AnswerRead
from focushub.auth import service as auth_service
from focushub.auth.schemas import EmailCreate, LoginCreate, PasswordResetConfirm, SignupCreate
from focushub.chat import service as chat_service
from focushub.chat.schemas import (
    MAX_SEQ,
    InvitationListParams,
    InvitationRead,
    MessageCreate,
    MessageListParams,
    MessageRead,
    ParticipantCreate,
    ReadUpdate,
    RoomCreate,
    RoomListParams,
)
from focushub.comments import service as comments_service
from focushub.comments.schemas import CommentCreate, CommentListParams
from focushub.content.fields import split_tags
from focushub.core.deps import client_address
from focushub.core.errors import AppError, Forbidden, NotFound, as_app_error, response_headers
from focushub.core.pagination import MAX_LIMIT, Page
from focushub.core.routing import Router
from focushub.core.runtime import Runtime
from focushub.core.schemas import Password
from focushub.feed import service as feed_service
from focushub.feed.schemas import FeedParams
from focushub.files.responses import file_response, preview_response
from focushub.files.sniff import inline
from focushub.follows import service as follows_service
from focushub.follows.schemas import FollowListParams
from focushub.notifications import service as notifications_service
from focushub.notifications.schemas import (
    NotificationListParams,
    NotificationMarkRead,
    NotificationPreferencesUpdate,
)
from focushub.posts import service as posts_service
from focushub.posts.schemas import PostCreate, PostListParams, PostUpdate
from focushub.questions import service as questions_service
from focushub.questions.schemas import QuestionCreate, QuestionUpdate
from focushub.reports import service as reports_service
from focushub.reports.schemas import (
    ModerationCreate,
    ModerationSettingsUpdate,
    QueueParams,
    ReportCreate,
    ReportListParams,
    ReportTarget,
)
from focushub.resources import service as resources_service
from focushub.resources.schemas import ResourceFields, ResourceListParams, ResourceUpdate
from focushub.safety import service as safety_service
from focushub.search import service as search_service
from focushub.search.schemas import SearchParams
from focushub.users import service as users_service
from focushub.users.schemas import PrivacyUpdate, UserUpdate
from focushub.votes import service as votes_service
from focushub.web import assets, markdown, session
from focushub.web.session import PageSession

HERE = FilePath(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["markdown"] = markdown.render
templates.env.filters["plain"] = markdown.plain


def counted(n: int, noun: str) -> str:
    """``1 vote``, ``2 votes``, ``0 votes`` (the site's nouns take an s)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


templates.env.filters["counted"] = counted


def size(n: int) -> str:
    """``64 KB``, ``50 MB``, ``1.5 MB``: whole KB under 1 MB, else MB to one decimal (app.js
    says a chosen file's size the same way)."""
    if n < 1024 * 1024:
        return f"{-(-n // 1024)} KB"
    return f"{n / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


templates.env.filters["size"] = size
# quote(value, safe="") for ASCII text in one C call: it runs for every report link on a page.
_URL_ESCAPES = {c: f"%{c:02X}" for c in range(128)
                if chr(c) not in string.ascii_letters + string.digits + "_.-~"}


def _urlquote(value: object) -> str:
    text = str(value)
    return text.translate(_URL_ESCAPES) if text.isascii() else quote(text, safe="")


templates.env.filters["urlquote"] = _urlquote


def _highlight(snippet: str) -> Markup:
    """A search snippet with its « » markers as <mark>, everything else escaped."""
    return Markup(str(escape(snippet)).replace("«", "<mark>").replace("»", "</mark>"))


templates.env.filters["highlight"] = _highlight
templates.env.globals["static_url"] = assets.static_url

# The password rule the server enforces (core/schemas.Password), for every form that sets one.
_PASSWORD_RULE = next(m for m in Password.__metadata__ if isinstance(m, StringConstraints))
PASSWORD_MIN, PASSWORD_MAX = _PASSWORD_RULE.min_length, _PASSWORD_RULE.max_length
templates.env.globals["password_min"] = PASSWORD_MIN
templates.env.globals["password_max"] = PASSWORD_MAX

# No inline script or style anywhere: htmx is told not to inject its indicator styles.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
            "object-src 'none'")

router = Router(include_in_schema=False)

# A form field whose text a schema judges (title, content, name, email, password…), always
# declared ``= ""``. FastAPI reads an empty field as a missing one and refuses a missing
# required field, or one over a ``Form(max_length=)``, with its own 422 before the handler
# runs: the generic error page, what was typed lost. Taken as typed instead, the handler's
# schema refuses it and the form comes back with the message next to the field (the body
# limit bounds its size). tests/web/test_pages.py checks every form for it.
Text = Annotated[str, Form()]


async def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _page(request: Request) -> PageSession:
    return await session.load(request, request.app.state.runtime)


RtDep = Annotated[Runtime, Depends(_runtime)]
PageDep = Annotated[PageSession, Depends(_page)]


def render(request: Request, page: PageSession, template: str, status: int = 200,
           **context: Any) -> HTMLResponse:
    # The file fields carry the upload limit (data-max-bytes), which app.js checks at once.
    context.setdefault("max_upload_bytes", request.app.state.runtime.settings.max_upload_bytes)
    response = templates.TemplateResponse(
        request, template, {"page": page, "me": page.caller, **context}, status_code=status)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    _keep_private(response, page)
    session.write_cookies(response, request, page)
    return response


def _keep_private(response: Response, page: PageSession) -> None:
    """A signed-in user's page (or the answer that ends a session) is never stored by the
    browser: after logging out, Back must not show it again from the cache. Pages for
    anonymous visitors keep their default caching."""
    if page.signed_in or page.clear:
        response.headers["Cache-Control"] = "no-store"


def _comment_texts(comments: Iterable[Any]) -> Iterator[str]:
    """The texts of comments and of the replies shown under them (``_comment.html``)."""
    for c in comments:
        yield c.content
        yield from _comment_texts(getattr(c, "replies", None) or ())


def redirect(request: Request, page: PageSession, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    _keep_private(response, page)
    session.write_cookies(response, request, page)
    return response


def _need_login(request: Request, page: PageSession) -> Response | None:
    if page.signed_in:
        return None
    return redirect(request, page, f"/login?next={quote(str(request.url.path), safe='')}")


def _guard(request: Request, page: PageSession, csrf_token: str) -> Response | None:
    """For a form post: the login redirect when signed out, else None once the CSRF value
    checks out (a wrong one raises 403)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    session.check_csrf(request, page, csrf_token)
    return None


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """Each refused form field's first message, in words, to say next to the field."""
    found: dict[str, str] = {}
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        if field in found:
            continue
        limit = (e.get("ctx") or {}).get("max_length")
        least = (e.get("ctx") or {}).get("min_length") or 1
        typed = e.get("input")
        if (isinstance(typed, str) and not typed.strip()) or \
                (e["type"] == "string_too_short" and least == 1) or \
                (e["type"] == "value_error" and "blank" in e["msg"]):
            message = "This cannot be empty."
        elif e["type"] == "string_too_short":
            message = f"This is too short: at least {least:,} characters."
        elif e["type"] == "string_pattern_mismatch":
            message = "This is not in the expected form."
        elif e["type"] == "string_too_long":
            message = f"This is too long: at most {limit:,} characters."
        elif e["type"] == "too_long":
            message = f"Too many: at most {limit:,}."
        else:
            message = e["msg"].removeprefix("Value error, ")
            message = message[:1].upper() + message[1:]
        found[field] = message
    return found


def _refusal(exc: Exception) -> AppError:
    """The error of a write the server refused for now or for its content (a rate limit:
    429; too many mentions, a block: 403, 409, 422), to say on the page with what was
    written; anything else (404, our own faults) goes on to the error pages."""
    error = as_app_error(exc)
    if error is None or error.status_code not in (403, 409, 422, 429):
        raise exc
    return error


def _invalid(exc: ValidationError) -> AppError:
    """A text refused by its schema (too long…) as the error a draft page says."""
    return AppError(next(iter(_field_errors(exc).values()), "Check what you wrote"),
                    code="validation_error", status_code=422)


def _with_retry_after(response: Response, error: AppError) -> Response:
    for name, value in (response_headers(error) or {}).items():
        response.headers[name] = value
    return response


def _draft_refused(request: Request, page: PageSession, error: AppError, *, action: str,
                   noun: str, verb: str, label: str, content: str, back: str,
                   hidden: dict[str, str] | None = None) -> Response:
    """A refused comment, reply, answer or message, given back whole on a page of its own
    with the reason and a form to send it again (the page it came from kept nothing)."""
    response = render(request, page, "draft.html", status=error.status_code, action=action,
                      noun=noun, verb=verb, label=label, content=content, back=back,
                      hidden=hidden or {}, error=error.message)
    return _with_retry_after(response, error)


def _safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/``: for redirects and for the links
    pages make of it (``back``). Browsers read ``\\`` as ``/`` in a link and drop tabs and
    line breaks from it, so ``/\\evil.example`` or ``/<tab>/evil.example`` would be
    ``//evil.example``, another site; no control character, backslash or space is taken."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(c == "\\" or c <= " " or c == "\x7f" for c in value):
        return "/"
    return value


# --- sessions --------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, page: PageDep, next: str | None = None) -> Response:
    return render(request, page, "login.html", next=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, page: PageDep, rt: RtDep,
                email: Text = "", password: Text = "",
                csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    session.check_csrf(request, page, csrf_token)
    try:
        tokens = await auth_service.log_in(rt, LoginCreate(email=email, password=password),
                                          client=client_address(request))
    except ValidationError as exc:
        return render(request, page, "login.html", status=422, field_errors=_field_errors(exc),
                      email=email, next=_safe_next(next))
    except AppError as exc:
        return render(request, page, "login.html", status=exc.status_code, error=exc.message,
                      email=email, next=_safe_next(next))
    session.start(page, tokens, rt)
    return redirect(request, page, _safe_next(next))


# The sign-up refusals that belong to one field: (field, what is said next to it).
SIGNUP_FIELD_ERRORS = {
    "username_taken": ("username", "This username is taken; choose another one."),
    "email_taken": ("email", "An account with this email already exists. Log in, or reset "
                             "your password if you forgot it."),
}


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, page: PageDep) -> Response:
    return render(request, page, "signup.html")


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request, page: PageDep, rt: RtDep,
                 email: Text = "", password: Text = "", full_name: Text = "",
                 username: Text = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    form = {"email": email, "full_name": full_name, "username": username}
    try:
        data = SignupCreate(password=password, **form)
        tokens = await auth_service.sign_up(rt, data, client=client_address(request))
    except ValidationError as exc:
        errors = _field_errors(exc)
        if errors.get("username", "").startswith("This is not"):  # its pattern, in words
            errors["username"] = "Use 3 to 50 letters, digits or underscores."
        return render(request, page, "signup.html", status=422, form=form, field_errors=errors)
    except (AppError, DBAPIError) as exc:
        # A taken username or email arrives from the database's unique keys (409): said
        # next to its field, with what was typed (never the password).
        error = as_app_error(exc)
        if error is None or error.status_code >= 500:
            raise
        field = SIGNUP_FIELD_ERRORS.get(error.code)
        if field is not None:
            return render(request, page, "signup.html", status=error.status_code, form=form,
                          field_errors={field[0]: field[1]})
        return render(request, page, "signup.html", status=error.status_code,
                      errors=[error.message], form=form)
    session.start(page, tokens, rt)
    return redirect(request, page, "/?welcome=1")


@router.post("/logout")
async def logout(request: Request, page: PageDep, rt: RtDep,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    refresh = request.cookies.get(session.REFRESH)
    if refresh:
        await auth_service.log_out(rt, refresh)
    page.clear = True
    page.set_cookies.pop(session.ACCESS, None)
    page.set_cookies.pop(session.REFRESH, None)
    return redirect(request, page, "/")


@router.get("/verify-email", response_class=HTMLResponse)
async def verify_email(request: Request, page: PageDep, rt: RtDep,
                       token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The link of the verification mail."""
    try:
        await auth_service.verify_email(rt, token)
    except AppError as exc:
        # A spent link is often one a mail scanner opened first, or a second click: its
        # signed-in owner is told that the address is confirmed, not that it "does not work".
        me = None
        if page.signed_in:
            with contextlib.suppress(AppError):  # a session ended meanwhile: say nothing
                me = await users_service.get_me(rt, page.caller)
        if me is not None and me.is_verified:
            return render(request, page, "message.html", title="Email confirmed",
                          message=f"Your email address {me.email} is confirmed.")
        return render(request, page, "message.html", status=exc.status_code,
                      title="This link does not work", message=exc.message)
    return render(request, page, "message.html", title="Email confirmed",
                  message="Your email address is confirmed. Welcome to Focus Hub!")


@router.get("/password-reset", response_class=HTMLResponse)
async def reset_page(request: Request, page: PageDep,
                     token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Without a token: ask for the mail. With one (the mail's link): choose a password."""
    return render(request, page, "password_reset.html", token=token)


@router.post("/password-reset", response_class=HTMLResponse)
async def reset(request: Request, page: PageDep, rt: RtDep,
                email: Text = "", token: Annotated[str, Form(max_length=200)] = "",
                password: Text = "",
                csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    if not token:
        try:
            # The address as the API reads it (blanks dropped, an ASCII-encoded domain as
            # the account stores it): the raw field named no account for those.
            address = EmailCreate(email=email).email
        except ValidationError:
            return render(request, page, "password_reset.html", status=422, token="",
                          error="Enter the email address of your account")
        await auth_service.request_email_token(rt, address, "password_reset",
                                              client=client_address(request))
        return render(request, page, "message.html", title="Check your email",
                      message="If an account with this email exists, a message is on its way.")
    try:
        await auth_service.reset_password(rt, PasswordResetConfirm(token=token, password=password))
    except ValidationError as exc:
        errors = _field_errors(exc)
        if "token" in errors:  # a link cut short or made up
            return render(request, page, "password_reset.html", status=422, token=token,
                          error="This link does not work; ask for a new one.")
        return render(request, page, "password_reset.html", status=422, token=token,
                      field_errors=errors)
    except AppError as exc:
        return render(request, page, "password_reset.html", status=exc.status_code, token=token,
                      error=exc.message)
    return render(request, page, "message.html", title="Password changed",
                  message="Your password is changed. Log in again on every device.")


# --- feed and posts ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def feed(request: Request, page: PageDep, rt: RtDep,
               scope: Annotated[str, Query(pattern="^(following|latest|trending)$")] = "latest",
               cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    if scope == "following" and not page.signed_in:
        return redirect(request, page, "/login?next=%2F%3Fscope%3Dfollowing")
    result = await feed_service.get_feed(rt, page.caller, FeedParams(scope=scope, cursor=cursor))
    return render(request, page, "feed.html", scope=scope, items=result.items,
                  next_cursor=result.next_cursor)


@router.get("/posts/new", response_class=HTMLResponse)
async def new_post_page(request: Request, page: PageDep) -> Response:
    return _need_login(request, page) or render(request, page, "post_new.html", form={})


@router.post("/posts/new", response_class=HTMLResponse)
async def new_post(request: Request, page: PageDep, rt: RtDep,
                   title: Text = "",
                   content: Text = "",
                   tags: Text = "",
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    form = {"title": title, "content": content, "tags": tags}
    try:
        data = PostCreate(title=title, content=content,
                          tags=split_tags(tags))
    except ValidationError as exc:
        return render(request, page, "post_new.html", status=422, form=form,
                      field_errors=_field_errors(exc))
    try:
        post = await posts_service.create_post(rt, page.caller, data)
    except (AppError, DBAPIError) as exc:
        # The form again, with what was written: too many mentions, or too many posts for
        # now (429, with when to try again).
        error = _refusal(exc)
        return _with_retry_after(render(request, page, "post_new.html", status=error.status_code,
                                        errors=[error.message], form=form), error)
    return redirect(request, page, f"/posts/{post.id}")


async def _save_edit(request: Request, page: PageSession, template: str, item_id: UUID,
                     shown_at: str, form: dict[str, str], model: type[Any],
                     save: Callable[[Any], Awaitable[None]]) -> Response:
    """An edit form's post (a post's or a question's title, text and tags): saved, then to
    ``shown_at``; refused, the form again with what was typed and why (a 403 goes on to the
    error page: the database refuses anyone but the author)."""
    try:
        data = model(title=form["title"], content=form["content"], tags=split_tags(form["tags"]))
    except ValidationError as exc:
        return render(request, page, template, status=422, form=form, editing={"id": item_id},
                      field_errors=_field_errors(exc))
    try:
        await save(data)
    except (AppError, DBAPIError) as exc:
        error = _refusal(exc)
        if error.status_code == 403:
            raise error from exc
        return render(request, page, template, status=error.status_code, form=form,
                      editing={"id": item_id}, errors=[error.message])
    return redirect(request, page, shown_at)


@router.get("/posts/{post_id}/edit", response_class=HTMLResponse)
async def edit_post_page(request: Request, page: PageDep, rt: RtDep, post_id: UUID) -> Response:
    """The author's form to change a post (403 for anyone else, said before they type)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    post = await posts_service.get_post(rt, page.caller, post_id)
    if post.author.id != page.caller.user_id:
        raise Forbidden("Only the author changes a post", code="not_post_author")
    return render(request, page, "post_new.html", editing=post, form={
        "title": post.title, "content": post.content, "tags": ", ".join(post.tags)})


@router.post("/posts/{post_id}/edit", response_class=HTMLResponse)
async def edit_post(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                    title: Text = "",
                    content: Text = "",
                    tags: Text = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Save the post's title, text and tags (the database refuses anyone but its author)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone

    async def save(data: PostUpdate) -> None:
        await posts_service.update_post(rt, page.caller, post_id, data)

    return await _save_edit(request, page, "post_new.html", post_id, f"/posts/{post_id}",
                            {"title": title, "content": content, "tags": tags}, PostUpdate, save)


# How far a page looks for a comment or answer it was asked to show (``?comment=``,
# ``?answer=``), in pages of MAX_LIMIT: past that the first page is shown.
FIND_PAGES = 50


def _holds(items: list[Any], wanted: UUID) -> bool:
    """Whether ``wanted`` is among ``items`` or, for comments, their shown replies."""
    return any(item.id == wanted or _holds(getattr(item, "replies", []), wanted)
               for item in items)


async def _page_holding(wanted: UUID, first: Any, fetch: Any) -> Any | None:
    """The page (``Page``) holding ``wanted``, walking on from page ``first`` with
    ``fetch(cursor)``; None when it is not shown on any of the pages looked at."""
    found = first
    for _ in range(FIND_PAGES):
        if _holds(found.items, wanted):
            return found
        if found.next_cursor is None:
            return None
        found = await fetch(found.next_cursor)
    return None


@router.get("/posts/{post_id}", response_class=HTMLResponse)
async def post_page(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                    cursor: Annotated[str | None, Query(max_length=500)] = None,
                    comment: UUID | None = None,
                    thread: UUID | None = None) -> Response:
    """The post and a page of its comments: the first, the one after ``cursor`` (the "Show
    more comments" link; htmx puts its comments in place), or the one showing ``comment``
    (where a new comment lands). A reply that no page of the post shows (under "more
    replies") is shown in its ``thread``, the replies of the comment it answers."""
    post = await posts_service.get_post(rt, page.caller, post_id)
    comments = await comments_service.list_post_comments(rt, page.caller, post_id,
                                                         CommentListParams(cursor=cursor))
    later = cursor is not None
    if comment is not None and cursor is None and not _holds(comments.items, comment):
        # The page that begins with the comment's top-level comment, found by one query.
        start = await comments_service.cursor_to_comment(rt, page.caller, post_id, comment)
        if start is not None:
            comments = await comments_service.list_post_comments(
                rt, page.caller, post_id, CommentListParams(cursor=start))
            later = True
        if not _holds(comments.items, comment) and thread is not None:
            # A reply deeper or later than the replies shown under its comment.
            return redirect(request, page, f"/posts/{post_id}/comments/{thread}"
                                           f"?comment={comment}#comment-{comment}")
    more = f"/posts/{post_id}?cursor={quote(comments.next_cursor, safe='')}" \
        if comments.next_cursor else None
    await markdown.prepare([post.content, *_comment_texts(comments.items)])
    return render(request, page, "post.html", post=post, comments=comments.items,
                  more_comments=more, later=later)


@router.get("/posts/{post_id}/comments/{comment_id}", response_class=HTMLResponse)
async def comment_thread(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                         comment_id: UUID,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         comment: UUID | None = None) -> Response:
    """The replies to a comment, a page at a time (the "N more replies" link: a page of its
    own without JavaScript; with htmx, its replies replace the few shown under the
    comment). ``comment``: the page of replies showing that one."""
    post = await posts_service.get_post(rt, page.caller, post_id)
    replies = await comments_service.list_replies(rt, page.caller, comment_id,
                                                  CommentListParams(cursor=cursor))
    if replies.items and replies.items[0].post_id != post_id:
        raise NotFound("There is no such comment on this post", code="comment_not_found")
    if comment is not None and cursor is None and not _holds(replies.items, comment):
        async def fetch(after: str) -> Any:
            return await comments_service.list_replies(
                rt, page.caller, comment_id, CommentListParams(cursor=after, limit=MAX_LIMIT))

        replies = await _page_holding(comment, replies, fetch) or replies
    path = f"/posts/{post_id}/comments/{comment_id}"
    more = f"{path}?cursor={quote(replies.next_cursor, safe='')}" if replies.next_cursor else None
    await markdown.prepare(_comment_texts(replies.items))
    return render(request, page, "comment_thread.html", post=post, parent_id=comment_id,
                  replies=replies.items, more_replies=more)


@router.post("/posts/{post_id}/comments")
async def comment(request: Request, page: PageDep, rt: RtDep, post_id: UUID,
                  content: Text = "",
                  parent_id: Annotated[UUID | None, Form()] = None,
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    """A comment, or a reply to ``parent_id``."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    reply = parent_id is not None
    try:
        data = CommentCreate(content=content, parent_id=parent_id)
    except ValidationError as exc:
        if not content.strip():  # said on the post page, above its comment form
            return redirect(request, page, f"/posts/{post_id}?error=empty-comment#comments")
        # Too long: given back whole, with the limit.
        return _draft_refused(
            request, page, _invalid(exc), action=f"/posts/{post_id}/comments",
            noun="reply" if reply else "comment", verb="posted",
            label="Your reply" if reply else "Your comment (Markdown)", content=content,
            back=f"/posts/{post_id}#comments",
            hidden={"parent_id": str(parent_id)} if reply else None)
    try:
        made = await comments_service.create_comment(rt, page.caller, post_id, data)
    except (AppError, DBAPIError) as exc:
        return _draft_refused(
            request, page, _refusal(exc), action=f"/posts/{post_id}/comments",
            noun="reply" if reply else "comment", verb="posted",
            label="Your reply" if reply else "Your comment (Markdown)", content=content,
            back=f"/posts/{post_id}#comments",
            hidden={"parent_id": str(parent_id)} if reply else None)
    # To the page of comments that shows it (a post's first page holds only the oldest).
    thread = f"&thread={parent_id}" if parent_id else ""
    return redirect(request, page, f"/posts/{post_id}?comment={made.id}{thread}#comment-{made.id}")


@router.post("/vote/{votable_type}/{votable_id}")
async def vote(request: Request, page: PageDep, rt: RtDep,
               votable_type: Annotated[str, Path(pattern="^(post|comment|question|answer)$")],
               votable_id: UUID,
               vote_type: Annotated[str, Form(pattern="^(upvote|downvote|none)$")],
               back: Annotated[str, Form(max_length=300)] = "/",
               csrf_token: Annotated[str, Form()] = "") -> Response:
    """Vote up or down, or withdraw (``none``), then back to the page it came from."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    if vote_type == "none":
        await votes_service.withdraw_vote(rt, page.caller, votable_type, votable_id)
    else:
        await votes_service.cast_vote(rt, page.caller, votable_type, votable_id, vote_type)
    return redirect(request, page, _safe_next(back))


# What one may delete of one's own from the pages (the database also lets administrators),
# and the service call that does it.
DELETERS = {"post": posts_service.delete_post, "question": questions_service.delete_question,
            "comment": comments_service.delete_comment, "answer": answers_service.delete_answer}


@router.post("/delete/{kind}/{target_id}")
async def delete_content(request: Request, page: PageDep, rt: RtDep,
                         kind: Literal["post", "question", "comment", "answer"], target_id: UUID,
                         back: Annotated[str, Form(max_length=300)] = "/",
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete a post, question, comment or answer (403 for what is not the caller's, 404
    for what they cannot see), then to ``back``, whose page says it is done."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await DELETERS[kind](rt, page.caller, target_id)
    return redirect(request, page, _safe_next(back))


@router.post("/answers/{answer_id}/accept")
async def accept(request: Request, page: PageDep, rt: RtDep, answer_id: UUID,
                 question_id: Annotated[UUID, Form()],
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    """The asker accepts an answer (the database refuses anyone else: 403)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await answers_service.accept_answer(rt, page.caller, answer_id)
    return redirect(request, page,
                    f"/questions/{question_id}?answer={answer_id}#answer-{answer_id}")


# --- questions ---------------------------------------------------------------------------------


@router.get("/questions", response_class=HTMLResponse)
async def questions_page(request: Request, page: PageDep, rt: RtDep,
                         view: Annotated[str, Query(pattern="^(newest|unanswered|trending)$")] = "newest",
                         tag: Annotated[str | None, Query(max_length=30)] = None,
                         cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    result = await questions_service.list_questions(
        rt, page.caller, view=view, tag=tag, category=None, author=None, cursor=cursor, limit=20)
    return render(request, page, "questions.html", view=view, tag=tag, items=result.items,
                  next_cursor=result.next_cursor)


@router.get("/questions/ask", response_class=HTMLResponse)
async def ask_page(request: Request, page: PageDep) -> Response:
    return _need_login(request, page) or render(request, page, "ask.html", form={})


@router.get("/questions/similar", response_class=HTMLResponse)
async def similar(request: Request, page: PageDep, rt: RtDep,
                  title: Annotated[str, Query(max_length=255)] = "") -> Response:
    """The htmx fragment shown under the title while someone types a question."""
    found = (await questions_service.similar_questions(rt, page.caller, title)).items \
        if len(title.strip()) >= 3 else []
    return render(request, page, "_similar.html", similar=found)


@router.post("/questions/ask", response_class=HTMLResponse)
async def ask(request: Request, page: PageDep, rt: RtDep,
              title: Text = "",
              content: Text = "",
              tags: Text = "",
              csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    form = {"title": title, "content": content, "tags": tags}
    try:
        data = QuestionCreate(title=title, content=content,
                              tags=split_tags(tags))
    except ValidationError as exc:
        return render(request, page, "ask.html", status=422, form=form,
                      field_errors=_field_errors(exc))
    try:
        question = await questions_service.create_question(rt, page.caller, data)
    except (AppError, DBAPIError) as exc:
        error = _refusal(exc)
        return _with_retry_after(render(request, page, "ask.html", status=error.status_code,
                                        errors=[error.message], form=form), error)
    return redirect(request, page, f"/questions/{question.id}")


@router.get("/questions/{question_id}/edit", response_class=HTMLResponse)
async def edit_question_page(request: Request, page: PageDep, rt: RtDep,
                             question_id: UUID) -> Response:
    """The asker's form to change a question (403 for anyone else)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    question = await questions_service.get_question(
        rt, page.caller, question_id, client_address=client_address(request),
        view_key_secret=rt.jwt_secret)
    if question.author.id != page.caller.user_id:
        raise Forbidden("Only the asker changes a question", code="not_question_author")
    return render(request, page, "ask.html", editing=question, form={
        "title": question.title, "content": question.content, "tags": ", ".join(question.tags)})


@router.post("/questions/{question_id}/edit", response_class=HTMLResponse)
async def edit_question(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                        title: Text = "",
                        content: Text = "",
                        tags: Text = "",
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    """Save the question's title, details and tags (the database refuses anyone but the
    asker and administrators)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone

    async def save(data: QuestionUpdate) -> None:
        await questions_service.update_question(rt, page.caller, question_id, data)

    return await _save_edit(request, page, "ask.html", question_id, f"/questions/{question_id}",
                            {"title": title, "content": content, "tags": tags}, QuestionUpdate,
                            save)


@router.get("/questions/{question_id}", response_class=HTMLResponse)
async def question_page(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                        cursor: Annotated[str | None, Query(max_length=500)] = None,
                        answer: UUID | None = None) -> Response:
    """The question and a page of its answers: the first (with the question), the one after
    ``cursor`` (the "Show more answers" link; htmx puts them in place), or the one showing
    ``answer`` (where a new answer lands: answers are in score order)."""
    question = await questions_service.get_question(
        rt, page.caller, question_id,
        client_address=client_address(request),
        view_key_secret=rt.jwt_secret)
    first = Page[AnswerRead](items=question.answers, next_cursor=question.answers_next_cursor)
    answers = first
    if cursor is not None:
        answers = await answers_service.list_answers(rt, page.caller, question_id, cursor=cursor,
                                                     limit=questions_service.DETAIL_ANSWERS)
    elif answer is not None:
        async def fetch(after: str) -> Any:
            return await answers_service.list_answers(rt, page.caller, question_id,
                                                      cursor=after, limit=MAX_LIMIT)

        answers = await _page_holding(answer, first, fetch) or first
    # The page object itself, not its list: Page copies the list it is given.
    later = answers is not first
    more = f"/questions/{question_id}?cursor={quote(answers.next_cursor, safe='')}" \
        if answers.next_cursor else None
    await markdown.prepare([question.content, *(a.content for a in answers.items),
                            *(ai.answer_text for ai in question.ai_answers)])
    return render(request, page, "question.html", q=question, answers=answers.items,
                  more_answers=more, later=later)


@router.post("/questions/{question_id}/answers")
async def answer(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                 content: Text = "",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = AnswerCreate(content=content)
    except ValidationError as exc:
        if not content.strip():
            return redirect(request, page, f"/questions/{question_id}?error=empty-answer#answer")
        return _draft_refused(request, page, _invalid(exc),
                              action=f"/questions/{question_id}/answers", noun="answer",
                              verb="posted", label="Your answer (Markdown)", content=content,
                              back=f"/questions/{question_id}#answers")
    try:
        made = await answers_service.create_answer(rt, page.caller, question_id, data)
    except (AppError, DBAPIError) as exc:
        return _draft_refused(request, page, _refusal(exc),
                              action=f"/questions/{question_id}/answers", noun="answer",
                              verb="posted", label="Your answer (Markdown)", content=content,
                              back=f"/questions/{question_id}#answers")
    # To the page of answers that shows it (answers are in score order: not always the first).
    return redirect(request, page, f"/questions/{question_id}?answer={made.id}#answer-{made.id}")


@router.post("/questions/{question_id}/ai")
async def ask_ai(request: Request, page: PageDep, rt: RtDep, question_id: UUID,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await ai_service.request_answer(rt, page.caller, question_id)
    return redirect(request, page, f"/questions/{question_id}#ai-answers")


@router.post("/ai-answers/{answer_id}/rate")
async def rate_ai(request: Request, page: PageDep, rt: RtDep, answer_id: UUID,
                  rating: Annotated[int, Form(ge=1, le=5)],
                  question_id: Annotated[UUID, Form()],
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await ai_service.rate_answer(rt, page.caller, answer_id, FeedbackUpdate(rating=rating))
    return redirect(request, page, f"/questions/{question_id}#ai-{answer_id}")


# --- resources ----------------------------------------------------------------------------------


async def _resource_filters(request: Request) -> ResourceListParams:
    """The resource list's query. The filter form sends every field, its "Any" choice as an
    empty value: an empty field is no filter (the API's schema would refuse it)."""
    try:
        return ResourceListParams.model_validate(
            {name: value for name, value in request.query_params.items() if value})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


@router.get("/resources", response_class=HTMLResponse)
async def resources_page(request: Request, page: PageDep, rt: RtDep,
                         params: Annotated[ResourceListParams, Depends(_resource_filters)]
                         ) -> Response:
    """Public resources, or with ``mine=true`` the caller's own (private ones too), a page at
    a time: the "Load more" link carries the filters and the next cursor."""
    if params.mine and not page.signed_in:
        return redirect(request, page, "/login?next=%2Fresources%3Fmine%3Dtrue")
    result = await resources_service.list_resources(rt, page.caller, params)
    more = None
    if result.next_cursor:
        query = {name: ("true" if value is True else value) for name, value in
                 params.model_dump(exclude={"cursor"}, exclude_defaults=True).items()}
        more = "/resources?" + urlencode({**query, "cursor": result.next_cursor})
    return render(request, page, "resources.html", items=result.items,
                  next_cursor=result.next_cursor, more=more, params=params)


@router.get("/resources/new", response_class=HTMLResponse)
async def upload_page(request: Request, page: PageDep) -> Response:
    return _need_login(request, page) or render(request, page, "resource_new.html", form={})


@router.post("/resources/new", response_class=HTMLResponse)
async def upload(request: Request, page: PageDep, rt: RtDep,
                 file: Annotated[UploadFile, File()],
                 title: Text = "",
                 description: Text = "",
                 tags: Text = "",
                 is_public: Annotated[bool, Form()] = False,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    form = {"title": title, "description": description, "tags": tags, "is_public": is_public}
    try:
        fields = ResourceFields(title=title, description=description or None, is_public=is_public,
                                tags=split_tags(tags))
        resource = await resources_service.create_resource(rt, page.caller, fields, file.file,
                                                           file.filename)
    except ValidationError as exc:
        return render(request, page, "resource_new.html", status=422, form=form,
                      field_errors=_field_errors(exc))
    except AppError as exc:
        return render(request, page, "resource_new.html", status=exc.status_code,
                      errors=[exc.message], form=form)
    return redirect(request, page, f"/resources/{resource.id}")


@router.get("/resources/{resource_id}", response_class=HTMLResponse)
async def resource_page(request: Request, page: PageDep, rt: RtDep, resource_id: UUID) -> Response:
    resource = await resources_service.get_resource(rt, page.caller, resource_id)
    await markdown.prepare([resource.description])
    return render(request, page, "resource.html", r=resource)


def _resource_form(resource: Any) -> dict[str, Any]:
    return {"title": resource.title, "description": resource.description or "",
            "tags": ", ".join(resource.tags), "is_public": resource.is_public}


@router.get("/resources/{resource_id}/edit", response_class=HTMLResponse)
async def edit_resource_page(request: Request, page: PageDep, rt: RtDep,
                             resource_id: UUID) -> Response:
    """The owner's form to change a resource's words and visibility, and to delete it
    (403 for anyone else, said before they fill it in; the database decides on saving)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    resource = await resources_service.get_resource(rt, page.caller, resource_id)
    if resource.author.id != page.caller.user_id:
        raise Forbidden("Only the person who uploaded a resource changes it",
                        code="not_resource_owner")
    return render(request, page, "resource_edit.html", r=resource, form=_resource_form(resource))


@router.post("/resources/{resource_id}/edit", response_class=HTMLResponse)
async def edit_resource(request: Request, page: PageDep, rt: RtDep, resource_id: UUID,
                        title: Text = "",
                        description: Text = "",
                        tags: Text = "",
                        is_public: Annotated[bool, Form()] = False,
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    """Save the form (every field at once: an unticked box is not sent, so private)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    form = {"title": title, "description": description, "tags": tags, "is_public": is_public}
    try:
        data = ResourceUpdate(title=title, description=description or None,
                              tags=split_tags(tags), is_public=is_public)
    except ValidationError as exc:
        resource = await resources_service.get_resource(rt, page.caller, resource_id)
        return render(request, page, "resource_edit.html", status=422, r=resource, form=form,
                      field_errors=_field_errors(exc))
    await resources_service.update_resource(rt, page.caller, resource_id, data)
    return redirect(request, page, f"/resources/{resource_id}?saved=1")


@router.post("/resources/{resource_id}/delete")
async def delete_resource(request: Request, page: PageDep, rt: RtDep, resource_id: UUID,
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete one's resource and its file, then to one's list, which says so."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await resources_service.delete_resource(rt, page.caller, resource_id)
    return redirect(request, page, "/resources?mine=true&deleted=1")


@router.get("/resources/{resource_id}/file")
async def resource_file(request: Request, page: PageDep, rt: RtDep, resource_id: UUID) -> Response:
    """The resource's file as the page's caller (the session cookie; the API's
    ``/api/v1/resources/{id}/file`` wants a bearer token, so an owner's private file was a
    404 from the page): the same service call, download counting and ``file_response``
    (validators, ranges, nosniff, a sandboxing policy) as the API."""
    stored, show_inline = await resources_service.open_file(
        rt, page.caller, resource_id, client_address=client_address(request),
        count="if-none-match" not in request.headers)
    response = await file_response(
        rt.storage, stored.storage_key, headers=request.headers,
        content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
        modified_at=stored.created_at, name=stored.file_name, inline=show_inline)
    session.write_cookies(response, request, page)
    return response


@router.get("/resources/{resource_id}/preview")
async def resource_preview(request: Request, page: PageDep, rt: RtDep,
                           resource_id: UUID) -> Response:
    """The resource's preview image as the page's caller, served as the API serves it."""
    stored = await resources_service.open_preview(rt, page.caller, resource_id)
    assert stored.preview_key is not None
    response = await preview_response(rt.storage, stored.preview_key, headers=request.headers,
                                      sha256=stored.sha256)
    session.write_cookies(response, request, page)
    return response


# --- search, people, notifications ----------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, page: PageDep, rt: RtDep,
                      q: Annotated[str, Query(max_length=200)] = "",
                      type: Annotated[str, Query(pattern="^(post|question|resource|user|)$")] = "",
                      cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """Search; the form's first choice sends an empty ``type``: everything but people."""
    kind = type or None
    hits: list[Any] = []
    next_cursor = None
    if q.strip():
        try:
            params = SearchParams(q=q, type=kind, cursor=cursor)
        except ValidationError as exc:
            return render(request, page, "search.html", status=422, q=q, type=kind, hits=[],
                          errors=_errors(exc))
        result = await search_service.search(rt, page.caller, params)
        hits, next_cursor = result.items, result.next_cursor
    return render(request, page, "search.html", q=q, type=kind, hits=hits, next_cursor=next_cursor)


PROFILE_LIST_SIZE = 10


@router.get("/u/{username}", response_class=HTMLResponse)
async def profile_page(request: Request, page: PageDep, rt: RtDep, username: str,
                       posts_cursor: Annotated[str | None, Query(max_length=500)] = None,
                       questions_cursor: Annotated[str | None, Query(max_length=500)] = None,
                       ) -> Response:
    """A person's profile with their posts and questions, newest first. Each list pages on
    by itself (``?posts_cursor=``, ``?questions_cursor=``); with htmx "Load more" puts the
    next items in place of the link."""
    user = await users_service.get_by_username(rt, page.caller, username)
    follow = await follows_service.get_state(rt, page.caller, user.id)
    posts = await posts_service.list_posts(rt, page.caller, PostListParams(
        author=str(user.id), cursor=posts_cursor, limit=PROFILE_LIST_SIZE))
    questions = await questions_service.list_questions(
        rt, page.caller, view="newest", tag=None, category=None, author=user.id,
        cursor=questions_cursor, limit=PROFILE_LIST_SIZE)
    muted = await _is_muted(rt, page, user.id)
    return render(request, page, "profile.html", user=user, follow=follow, posts=posts.items,
                  posts_next=posts.next_cursor, questions=questions.items,
                  questions_next=questions.next_cursor, muted=muted,
                  later_posts=posts_cursor is not None,
                  later_questions=questions_cursor is not None)


FOLLOW_LIST_SIZE = 50


async def _follow_list(request: Request, page: PageSession, rt: Runtime, username: str,
                       direction: Literal["followers", "following"], cursor: str | None,
                       hidden_cursor: str | None) -> Response:
    """A person's followers or the people they follow, as the API lists them (only people
    whose profile the caller may see). On one's own following list each has Unfollow, and
    the accounts one follows but may no longer see (deactivated) are listed apart, by no
    more than the date of the follow, each with Unfollow."""
    user = await users_service.get_by_username(rt, page.caller, username)
    listing = await follows_service.list_follows(
        rt, page.caller, user.id, direction, FollowListParams(cursor=cursor,
                                                              limit=FOLLOW_LIST_SIZE))
    mine = page.signed_in and page.caller.user_id == user.id and direction == "following"
    hidden = None
    if mine:
        hidden = await follows_service.list_hidden_following(
            rt, page.caller, FollowListParams(cursor=hidden_cursor, limit=FOLLOW_LIST_SIZE))
    return render(request, page, "follows.html", user=user, direction=direction,
                  listing=listing, mine=mine, hidden=hidden, later=cursor is not None,
                  removed=request.query_params.get("removed") == "1")


@router.get("/u/{username}/followers", response_class=HTMLResponse)
async def followers_page(request: Request, page: PageDep, rt: RtDep, username: str,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         ) -> Response:
    return await _follow_list(request, page, rt, username, "followers", cursor, None)


@router.get("/u/{username}/following", response_class=HTMLResponse)
async def following_page(request: Request, page: PageDep, rt: RtDep, username: str,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         hidden_cursor: Annotated[str | None, Query(max_length=500)] = None,
                         ) -> Response:
    return await _follow_list(request, page, rt, username, "following", cursor, hidden_cursor)


@router.post("/following/{user_id}/remove")
async def unfollow(request: Request, page: PageDep, rt: RtDep, user_id: UUID,
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    """Stop following ``user_id``, from one's following list: by id, since a deactivated
    account has no profile page. Its follow is removed all the same (the service then says
    404 as for nobody, as the API does), so that is not an error here."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    with contextlib.suppress(NotFound):
        await follows_service.unfollow(rt, page.caller, user_id)
    me = await users_service.get_me(rt, page.caller)
    return redirect(request, page, f"/u/{quote(me.username, safe='')}/following?removed=1")


async def _is_muted(rt: Runtime, page: PageSession, user_id: UUID) -> bool:
    """Whether the signed-in caller muted ``user_id`` (False for anyone else)."""
    if not page.signed_in or page.caller.user_id == user_id:
        return False
    return await safety_service.has(rt, page.caller, "mute", user_id)


@router.post("/u/{username}/follow")
async def toggle_follow(request: Request, page: PageDep, rt: RtDep, username: str,
                        following: Annotated[bool | None, Form()] = None,
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    """Follow (``following=true``) or unfollow someone. The profile's form says which, so a
    second submit or a tab left open since does not undo the first; without it, the
    current state is turned over."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    user = await users_service.get_by_username(rt, page.caller, username)
    if following is None:
        following = not (await follows_service.get_state(rt, page.caller, user.id)).following
    if following:
        await follows_service.follow(rt, page.caller, user.id)
    else:
        await follows_service.unfollow(rt, page.caller, user.id)
    return redirect(request, page, f"/u/{user.username}")


@router.post("/u/{username}/mute", response_class=HTMLResponse)
async def toggle_mute(request: Request, page: PageDep, rt: RtDep, username: str,
                      muted: Annotated[bool, Form()],
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    """Mute (``muted=true``) or unmute someone whose profile one sees; with htmx the
    profile's controls come back in their new state."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    user = await users_service.get_by_username(rt, page.caller, username)
    if muted:
        await safety_service.add(rt, page.caller, "mute", user.id)
    else:
        await safety_service.remove(rt, page.caller, "mute", user.id)
    if _is_htmx(request):
        return render(request, page, "_safety_controls.html", user=user, muted=muted, done=True)
    return redirect(request, page, f"/u/{user.username}")


@router.post("/u/{username}/block")
async def block(request: Request, page: PageDep, rt: RtDep, username: str,
                csrf_token: Annotated[str, Form()] = "") -> Response:
    """Block someone. Their profile is gone for the blocker too from now on (a block hides
    both ways), so the blocker lands on the list where the block can be undone."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    user = await users_service.get_by_username(rt, page.caller, username)
    await safety_service.add(rt, page.caller, "block", user.id)
    return redirect(request, page, f"/settings/blocks?blocked={quote(user.username, safe='')}")


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, page: PageDep, rt: RtDep,
                             cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    if (gone := _need_login(request, page)) is not None:
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
        return f"/u/{_urlquote(actor['username'])}"
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
    if (gone := _need_login(request, page)) is not None:
        return gone
    await notifications_service.mark_read(rt, page.caller,
                                          NotificationMarkRead(ids=[notification_id]))
    return redirect(request, page, _safe_next(to))


@router.post("/notifications/read")
async def read_all(request: Request, page: PageDep, rt: RtDep,
                   csrf_token: Annotated[str, Form()] = "",
                   until: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Marks read what the page showed: every notification whose latest action came by
    ``until`` (when the page was made); without it, all."""
    if (gone := _guard(request, page, csrf_token)) is not None:
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


# --- reports --------------------------------------------------------------------------------------

REPORT_REASONS = (("spam", "Spam or advertising"), ("harassment", "Harassment or abuse"),
                  ("wrong", "Wrong or misleading"), ("other", "Something else"))


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _report_view(request: Request, page: PageSession, status: int = 200, **context: Any) -> Response:
    """The report form, or what became of it: inline (htmx) or as its own page."""
    context.setdefault("form", {})
    context["reasons"] = REPORT_REASONS
    context["label"] = context["target_type"].replace("_", " ")
    if _is_htmx(request):
        # htmx swaps only 2xx answers; what the fragment says carries the outcome.
        return render(request, page, "_report_form.html", **context)
    return render(request, page, "report.html", status=status, **context)


@router.get("/report", response_class=HTMLResponse)
async def report_page(request: Request, page: PageDep, rt: RtDep, type: ReportTarget,
                      id: UUID, back: Annotated[str, Query(max_length=300)] = "/") -> Response:
    """The form to report something (a page of its own, or the fragment htmx puts in place
    of the "Report" link); 404 for what the caller cannot see, as when it is sent."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    await reports_service.check_target(rt, page.caller, type, id)
    return _report_view(request, page, target_type=type.value, target_id=id, back=_safe_next(back))


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
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    view = {"target_type": type.value, "target_id": id, "back": _safe_next(back),
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
    if _is_htmx(request):
        return _report_view(request, page, done="sent", **view)
    return redirect(request, page, f"/settings/reports?sent=1&back={quote(view['back'], safe='')}")


@router.get("/settings/reports", response_class=HTMLResponse)
async def my_reports(request: Request, page: PageDep, rt: RtDep,
                     cursor: Annotated[str | None, Query(max_length=500)] = None,
                     back: Annotated[str, Query(max_length=300)] = "") -> Response:
    """The caller's reports and where each stands, newest first."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    result = await reports_service.my_reports(rt, page.caller, ReportListParams(cursor=cursor))
    return render(request, page, "settings_reports.html", items=result.items,
                  next_cursor=result.next_cursor, back=_safe_next(back) if back else "",
                  reasons=dict(REPORT_REASONS))


# --- admin --------------------------------------------------------------------------------------


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
    if (gone := _need_login(request, page)) is not None:
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
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await admin_service.update_user(rt, page.caller, user_id,
                                    AdminUserUpdate(is_active=is_active, reason=reason or None))
    return redirect(request, page, "/admin")


@router.post("/admin/users/{user_id}/end-sessions")
async def admin_end_sessions(request: Request, page: PageDep, rt: RtDep, user_id: UUID,
                             reason: Annotated[str, Form(max_length=1000)] = "",
                             csrf_token: Annotated[str, Form()] = "") -> Response:
    """Force logout: every session of the user ends now (logged with the reason)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
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
    if (gone := _need_login(request, page)) is not None:
        return gone
    return await _queue_page(request, page, rt, cursor)


@router.post("/admin/reports/settings", response_class=HTMLResponse)
async def moderation_settings(request: Request, page: PageDep, rt: RtDep,
                              hide_threshold: Text = "",
                              reason: Annotated[str, Form(max_length=1000)] = "",
                              csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
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
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        until = _utc(suspend_until) if action == "suspend" else None
        data = ModerationCreate(action=action, reason=reason or None, suspend_until=until)
    except ValidationError as exc:
        return await _queue_page(request, page, rt, status=422,
                                 errors=[e["msg"].removeprefix("Value error, ")
                                         for e in exc.errors()])
    except ValueError:
        return await _queue_page(request, page, rt, status=422,
                                 errors=["Give the end of the suspension as a date and time"])
    try:
        done = await reports_service.moderate(rt, page.caller, target_type, target_id, data)
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        if error is None or error.status_code not in (409, 422):
            raise
        return await _queue_page(request, page, rt, status=error.status_code,
                                 errors=[error.message])
    return redirect(request, page, f"/admin/reports?done={data.action}"
                                   f"&resolved={done.reports_resolved}")


# --- chat -----------------------------------------------------------------------------------------


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(request: Request, page: PageDep, rt: RtDep,
                    cursor: Annotated[str | None, Query(max_length=500)] = None,
                    requests_cursor: Annotated[str | None, Query(max_length=500)] = None,
                    invitations_cursor: Annotated[str | None, Query(max_length=500)] = None,
                    ) -> Response:
    """The chat list: one's rooms, message requests and invitations, each paging on by
    itself (``?cursor=``, ``?requests_cursor=``, ``?invitations_cursor=``)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    return await _chat_list(request, page, rt, cursor=cursor, requests_cursor=requests_cursor,
                            invitations_cursor=invitations_cursor)


async def _chat_list(request: Request, page: PageSession, rt: Runtime, status: int = 200, *,
                     cursor: str | None = None, requests_cursor: str | None = None,
                     invitations_cursor: str | None = None, **context: Any) -> Response:
    rooms = await chat_service.list_rooms(rt, page.caller, RoomListParams(cursor=cursor))
    invitations = await chat_service.list_invitations(
        rt, page.caller, InvitationListParams(cursor=invitations_cursor))
    requests = await chat_service.list_requests(rt, page.caller,
                                                RoomListParams(cursor=requests_cursor))
    return render(request, page, "chat.html", status=status, rooms=rooms.items,
                  rooms_next=rooms.next_cursor, later_rooms=cursor is not None,
                  invitations=invitations.items, invitations_next=invitations.next_cursor,
                  requests=requests.items, requests_next=requests.next_cursor, **context)


@router.post("/chat/{kind}/{room_id}/{answer}")
async def answer_invitation(request: Request, page: PageDep, rt: RtDep,
                            kind: Literal["invitations", "requests"], room_id: UUID,
                            answer: Literal["accept", "decline"],
                            csrf_token: Annotated[str, Form()] = "") -> Response:
    """Accept (then open the room) or decline (back to the chat page) an invitation to a group
    or a message request."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    room_kind = "group" if kind == "invitations" else "direct"
    if answer == "decline":
        await chat_service.decline_invitation(rt, page.caller, room_id, room_kind)
        return redirect(request, page, "/chat")
    await chat_service.accept_invitation(rt, page.caller, room_id, room_kind)
    return redirect(request, page, f"/chat/{room_id}")


@router.post("/chat")
async def start_chat(request: Request, page: PageDep, rt: RtDep,
                     username: Annotated[str, Form(max_length=50)] = "",
                     name: Annotated[str, Form(max_length=255)] = "",
                     csrf_token: Annotated[str, Form()] = "") -> Response:
    """A direct chat with ``username``, or a new group called ``name``."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    wanted = username.strip().lstrip("@")
    try:
        if wanted:
            other = await users_service.get_by_username(rt, page.caller, wanted)
            data = RoomCreate(type="direct", user_id=other.id)
        else:
            try:
                data = RoomCreate(type="group", name=name)
            except ValidationError:
                return redirect(request, page, "/chat?error=name")
        room, _ = await chat_service.create_room(rt, page.caller, data)
    except (AppError, DBAPIError) as exc:
        # Said on the chat page: nobody by that name (or across a block: the same words),
        # or someone who takes chats only from people they follow (0028).
        # Too many new chats for now (429) is said with what was typed kept.
        error = as_app_error(exc)
        if error is None or error.status_code not in (403, 404, 429):
            raise
        message = (error.message if error.status_code == 429
                   else f"There is nobody called @{wanted} to chat with."
                   if error.status_code == 404
                   else f"You cannot start a chat with @{wanted}: {error.message}.")
        return _with_retry_after(
            await _chat_list(request, page, rt, status=error.status_code, error=message,
                             username=wanted, group_name="" if wanted else name), error)
    return redirect(request, page, f"/chat/{room.id}")


def _attachment_path(file_url: str | None) -> str | None:
    """The page route of a message's attachment: ``/api/v1/chat/rooms/<room>/attachments/<id>``
    becomes ``/chat/<room>/attachments/<id>`` (the API wants a bearer token; a page's image
    or link rides the session cookie)."""
    if not file_url:
        return None
    return "/chat" + file_url.removeprefix("/api/v1/chat/rooms")


templates.env.filters["attachment_path"] = _attachment_path


async def _room_view(request: Request, page: PageSession, rt: Runtime, room_id: UUID,
                     before: int | None = None, status: int = 200, **context: Any) -> Response:
    """The room page: the latest messages (or those below ``before``), who is in the room
    with their read positions, and "Seen" under the caller's own latest message once every
    other participant has read it. Showing the latest messages marks them read."""
    room = await chat_service.get_room(rt, page.caller, room_id)
    messages = await chat_service.list_messages(rt, page.caller, room_id,
                                                MessageListParams(before=before))
    latest = before is None
    if latest and messages.items:
        await chat_service.mark_read(rt, page.caller, room_id,
                                     ReadUpdate(seq=messages.items[-1].seq))
    people = await chat_service.list_participants(rt, page.caller, room_id)
    invited = await chat_service.list_room_invitations(rt, page.caller, room_id)
    return render(request, page, "room.html", status=status, room=room,
                  messages=messages.items, older=messages.next_cursor, latest=latest,
                  seen_seq=_seen_seq(messages.items, page) if latest else None,
                  people=people, invited=invited, **context)


def _seen_seq(messages: list[MessageRead], page: PageSession) -> int | None:
    """The seq of the caller's own latest message when every other participant read it."""
    for m in reversed(messages):
        if m.sender_id == page.caller.user_id and m.message_type != "system" \
                and m.deleted_at is None:
            return m.seq if m.is_read else None
    return None


@router.get("/chat/{room_id}", response_class=HTMLResponse)
async def room_page(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None) -> Response:
    """The room. ``before``: the page of messages just earlier than that seq (a page of its
    own without JavaScript; with htmx, the messages and the next "Load earlier messages"
    link, put in place above the ones shown)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    if before is not None and _is_htmx(request):
        messages = await chat_service.list_messages(rt, page.caller, room_id,
                                                    MessageListParams(before=before))
        return render(request, page, "_room_older.html", room_id=room_id,
                      messages=messages.items, older=messages.next_cursor)
    added, invited = request.query_params.get("added"), request.query_params.get("invited")
    removed = request.query_params.get("removed")
    note = (f"@{invited} is invited: they join when they accept." if invited
            else f"@{added} is in the chat now." if added
            else f"@{removed} is no longer in the chat." if removed else None)
    return await _room_view(request, page, rt, room_id, before=before, add_note=note)


@router.post("/chat/{room_id}/people")
async def add_to_room(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                      username: Annotated[str, Form(max_length=50)] = "",
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    """A group's admin adds ``username``: a member at once if they follow the admin, else
    invited (0031). Said on the room page either way, as is a name that finds nobody."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    wanted = username.strip().lstrip("@")
    try:
        other = await users_service.get_by_username(rt, page.caller, wanted)
        added = await chat_service.add_participant(rt, page.caller, room_id,
                                                   ParticipantCreate(user_id=other.id))
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        if error is None or error.status_code not in (403, 404, 409):
            raise
        message = (f"There is nobody called @{wanted} to add." if error.status_code == 404
                   else f"@{wanted} is already in this chat." if error.status_code == 409
                   else f"@{wanted} cannot be added: {error.message}.")
        return await _room_view(request, page, rt, room_id, status=error.status_code,
                                add_error=message, add_username=wanted)
    state = "invited" if isinstance(added, InvitationRead) else "added"
    return redirect(request, page, f"/chat/{room_id}?{state}={quote(wanted, safe='')}")


@router.get("/chat/{room_id}/people", response_class=HTMLResponse)
async def room_people(request: Request, page: PageDep, rt: RtDep, room_id: UUID) -> Response:
    """The room's participant list (htmx fragment; the page's script reloads it when
    someone joins, leaves or changes role)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    room = await chat_service.get_room(rt, page.caller, room_id)
    people = await chat_service.list_participants(rt, page.caller, room_id)
    invited = await chat_service.list_room_invitations(rt, page.caller, room_id)
    return render(request, page, "_room_people.html", room=room, people=people, invited=invited)


@router.post("/chat/{room_id}/people/{user_id}/remove")
async def remove_from_room(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                           user_id: UUID, username: Annotated[str, Form(max_length=50)] = "",
                           csrf_token: Annotated[str, Form()] = "") -> Response:
    """Leave a group (``user_id`` is the caller) or, as its admin or moderator, remove
    someone from it (the database decides who may remove whom: 403 otherwise). Leaving
    lands on the chat page, removing back on the room page; both say what was done."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await chat_service.remove_participant(rt, page.caller, room_id, user_id)
    if user_id == page.caller.user_id:
        return redirect(request, page, "/chat?left=1")
    return redirect(request, page, f"/chat/{room_id}?removed={quote(username, safe='')}")


@router.post("/chat/{room_id}")
async def send_chat(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    content: Text = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Sending without JavaScript (the page's script sends over the WebSocket)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = MessageCreate(content=content)
    except ValidationError as exc:
        # Said under the message box, with what was typed kept in it.
        said = ("Write a message first." if not content.strip()
                else next(iter(_field_errors(exc).values())))
        return await _room_view(request, page, rt, room_id, status=422, send_error=said,
                                draft=content)
    try:
        await chat_service.send_message(rt, page.caller, room_id, data)
    except (AppError, DBAPIError) as exc:
        return _draft_refused(request, page, _refusal(exc), action=f"/chat/{room_id}",
                              noun="message", verb="sent", label="Message", content=content,
                              back=f"/chat/{room_id}#end")
    return redirect(request, page, f"/chat/{room_id}#end")


@router.post("/chat/{room_id}/messages/{message_id}/delete")
async def delete_chat_message(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                              message_id: UUID,
                              csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete one's own message (the database refuses anyone else's: 403): it stays in its
    place as "(message deleted)" for everyone, live for those with the room open."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    deleted = await chat_service.delete_message(rt, page.caller, room_id, message_id)
    return redirect(request, page, f"/chat/{room_id}#m-{deleted.seq}")


@router.post("/chat/{room_id}/read")
async def read_chat(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    seq: Annotated[int, Form(ge=0, le=MAX_SEQ)],
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Read up to ``seq`` (the page's script, for messages that arrive while it is shown)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await chat_service.mark_read(rt, page.caller, room_id, ReadUpdate(seq=seq))
    response = Response(status_code=204)
    session.write_cookies(response, request, page)
    return response


# What an attachment refused by the service is said as on the page.
ATTACHMENT_ERRORS = {413: "The file is too large", 415: "This type of file is not accepted",
                     422: "This file cannot be sent"}


@router.post("/chat/{room_id}/attachments", response_class=HTMLResponse)
async def send_attachment(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                          file: Annotated[UploadFile | None, File()] = None,
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """Upload a file and send it: an image message for images (shown in the chat), a file
    message for the rest (a download link). Its text is the file's name. A refused file
    (size, type, content) is said on the room page with the service's status."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    if file is None or not getattr(file, "filename", None):  # no file chosen
        return await _room_view(request, page, rt, room_id, status=422,
                                attach_error="Choose a file to send")
    try:
        attachment = await chat_service.upload_attachment(rt, page.caller, room_id, file.file,
                                                          file.filename)
        kind = "image" if attachment.content_type.startswith("image/") else "file"
        await chat_service.send_message(rt, page.caller, room_id, MessageCreate(
            content=attachment.name, message_type=kind, file_id=attachment.id))
    except (AppError, DBAPIError) as exc:
        error = as_app_error(exc)
        if error is None or error.status_code not in (409, 413, 415, 422):
            raise
        lead = ATTACHMENT_ERRORS.get(error.status_code, "The file was not sent")
        return await _room_view(request, page, rt, room_id, status=error.status_code,
                                attach_error=f"{lead}: {error.message}")
    return redirect(request, page, f"/chat/{room_id}#end")


@router.get("/chat/{room_id}/attachments/{file_id}")
async def attachment(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                     file_id: UUID) -> Response:
    """An attachment of the room, for its participants (404 for anyone else), served as
    the API serves it (validators, ranges, a sandboxing policy)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    stored = await chat_service.open_attachment(rt, page.caller, room_id, file_id)
    response = await file_response(
        rt.storage, stored.storage_key, headers=request.headers,
        content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
        modified_at=stored.created_at, name=stored.file_name,
        inline=inline(stored.content_type))
    session.write_cookies(response, request, page)
    return response


@router.post("/chat/{room_id}/mute", response_class=HTMLResponse)
async def mute_room(request: Request, page: PageDep, rt: RtDep, room_id: UUID,
                    muted: Annotated[bool, Form()],
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """Mute or unmute a room: its messages stop (or start again) counting as unread."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await safety_service.mute_room(rt, page.caller, room_id, muted)
    if _is_htmx(request):
        return render(request, page, "_room_mute.html", room_id=room_id, muted=muted, done=True)
    return redirect(request, page, f"/chat/{room_id}")


# --- settings -------------------------------------------------------------------------------------


@router.get("/me")
async def my_profile(request: Request, page: PageDep, rt: RtDep) -> Response:
    """The header's "Profile": one's own public profile, under one's current username."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    me = await users_service.get_me(rt, page.caller)
    return redirect(request, page, f"/u/{quote(me.username, safe='')}")


@router.get("/settings/profile", response_class=HTMLResponse)
async def profile_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := _need_login(request, page)) is not None:
        return gone
    me = await users_service.get_me(rt, page.caller)
    return render(request, page, "settings_profile.html", account=me)


# What a refused profile field is said as, next to it (the rules of users/schemas.UserUpdate).
PROFILE_FIELD_ERRORS = {"full_name": "Enter your name (1 to 255 characters).",
                        "bio": "Keep this to 2,000 characters."}


@router.post("/settings/profile", response_class=HTMLResponse)
async def save_profile(request: Request, page: PageDep, rt: RtDep,
                       full_name: Text = "",
                       bio: Text = "",
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = UserUpdate(full_name=full_name, bio=bio or None)
    except ValidationError as exc:
        # Said next to each refused field, with what was typed kept.
        fields = {e["loc"][0] for e in exc.errors() if e["loc"]}
        me = await users_service.get_me(rt, page.caller)
        return render(request, page, "settings_profile.html", status=422, account=me,
                      form={"full_name": full_name, "bio": bio},
                      field_errors={name: PROFILE_FIELD_ERRORS[name] for name in fields
                                    if name in PROFILE_FIELD_ERRORS})
    await users_service.update_me(rt, page.caller, data)
    return redirect(request, page, "/settings/profile?saved=1")


@router.post("/settings/avatar", response_class=HTMLResponse)
async def save_avatar(request: Request, page: PageDep, rt: RtDep,
                      file: Annotated[UploadFile, File()],
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        await users_service.set_avatar(rt, page.caller, file.file, file.filename)
    except AppError as exc:
        me = await users_service.get_me(rt, page.caller)
        return render(request, page, "settings_profile.html", status=exc.status_code,
                      account=me, errors=[exc.message])
    return redirect(request, page, "/settings/profile?saved=1")


@router.get("/settings/privacy", response_class=HTMLResponse)
async def privacy_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := _need_login(request, page)) is not None:
        return gone
    privacy = await users_service.get_privacy(rt, page.caller)
    return render(request, page, "settings_privacy.html", privacy=privacy)


@router.post("/settings/privacy", response_class=HTMLResponse)
async def save_privacy(request: Request, page: PageDep, rt: RtDep,
                       profile_visibility: Annotated[str, Form(max_length=20)] = "",
                       dm_from: Annotated[str, Form(max_length=20)] = "",
                       show_email: Annotated[bool, Form()] = False,
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    """All three settings at once (an unticked box is not sent: the email is hidden)."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = PrivacyUpdate(profile_visibility=profile_visibility, dm_from=dm_from,
                             show_email=show_email)
    except ValidationError:
        privacy = await users_service.get_privacy(rt, page.caller)
        return render(request, page, "settings_privacy.html", status=422, privacy=privacy,
                      error="Choose one of the offered options for each setting")
    await users_service.update_privacy(rt, page.caller, data)
    return redirect(request, page, "/settings/privacy?saved=1")


NOTIFICATION_KINDS = (
    ("like", "likes my post or comment, or votes up my question or answer"),
    ("comment", "comments on my post or replies to my comment"),
    ("answer", "answers my question, or accepts my answer"),
    ("mention", "mentions me"),
    ("follow", "starts following me"),
    ("system", "moderators or Focus Hub itself have something to tell me"),
)


@router.get("/settings/notifications", response_class=HTMLResponse)
async def notification_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := _need_login(request, page)) is not None:
        return gone
    prefs = await notifications_service.get_preferences(rt, page.caller)
    return render(request, page, "settings_notifications.html", prefs=prefs.model_dump(),
                  kinds=NOTIFICATION_KINDS)


@router.post("/settings/notifications", response_class=HTMLResponse)
async def save_notification_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    """Every kind at once: a ticked box is sent ("true"), an unticked one is not (off)."""
    form = await request.form()
    if (gone := _guard(request, page, str(form.get("csrf_token", "")))) is not None:
        return gone
    data = NotificationPreferencesUpdate(**{name: form.get(name) == "true"
                                            for name, _ in NOTIFICATION_KINDS})
    await notifications_service.update_preferences(rt, page.caller, data)
    return redirect(request, page, "/settings/notifications?saved=1")


@router.get("/settings/blocks", response_class=HTMLResponse)
async def blocks_settings(request: Request, page: PageDep, rt: RtDep,
                          blocked: Annotated[str, Query(max_length=50)] = "",
                          removed: Annotated[str, Query(pattern="^(block|mute)$")] = "",
                          name: Annotated[str, Query(max_length=50)] = "") -> Response:
    """Who the caller blocked and muted, each with the way back; ``blocked`` and ``removed``
    (with ``name``) say what was just done."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    return await _blocks_view(request, page, rt, "settings_blocks.html", blocked=blocked,
                              removed=removed or None, removed_name=name)


async def _blocks_view(request: Request, page: PageSession, rt: Runtime, template: str,
                       **context: Any) -> Response:
    blocks = await safety_service.listing(rt, page.caller, "block")
    mutes = await safety_service.listing(rt, page.caller, "mute")
    return render(request, page, template, blocks=blocks, mutes=mutes, **context)


@router.post("/settings/blocks/{relation}/{user_id}/remove", response_class=HTMLResponse)
async def unblock(request: Request, page: PageDep, rt: RtDep,
                  relation: Annotated[str, Path(pattern="^(block|mute)$")], user_id: UUID,
                  username: Annotated[str, Form(max_length=50)] = "",
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    """Unblock or unmute; with htmx the lists come back in place, saying what was done."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await safety_service.remove(rt, page.caller, relation, user_id)  # type: ignore[arg-type]
    if _is_htmx(request):
        return await _blocks_view(request, page, rt, "_blocks_lists.html", removed=relation,
                                  removed_name=username)
    return redirect(request, page, f"/settings/blocks?removed={relation}"
                                   f"&name={quote(username, safe='')}")


async def _account_view(request: Request, page: PageSession, rt: Runtime, status: int = 200,
                        **context: Any) -> Response:
    me = await users_service.get_me(rt, page.caller)
    export = await accounts_service.latest_export(rt, page.caller)
    small = await accounts_service.export_is_small(rt, page.caller)
    hours = rt.settings.export_expiry_hours
    keep = f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"
    return render(request, page, "settings_account.html", status=status, account=me,
                  export=export, export_small=small, export_keep=keep, **context)


@router.get("/settings/account", response_class=HTMLResponse)
async def account_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := _need_login(request, page)) is not None:
        return gone
    return await _account_view(request, page, rt)


def _refused(exc: Exception) -> AppError:
    """The error of a credential form to say on the page (wrong password, taken email…);
    anything else (too many tries: 429, our own faults) goes on to the error pages."""
    error = as_app_error(exc)
    if error is None or error.status_code >= 500 or error.status_code == 429:
        raise exc
    return error


@router.post("/settings/account/email", response_class=HTMLResponse)
async def change_email(request: Request, page: PageDep, rt: RtDep,
                       email: Annotated[str, Form(max_length=320)] = "",
                       password: Annotated[str, Form(max_length=1000)] = "",
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new email, with the current password; the new address is sent a verification mail."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = EmailChange(email=email.strip(), password=password)
    except ValidationError as exc:
        fields = {e["loc"][0] for e in exc.errors() if e["loc"]}
        errors = (["Enter a valid email address"] if "email" in fields else []) + \
            (["Enter your current password"] if "password" in fields else [])
        return await _account_view(request, page, rt, status=422, email_errors=errors,
                                   new_email=email)
    try:
        await auth_service.change_email(rt, page.caller, data.password, str(data.email))
    except (AppError, DBAPIError) as exc:
        error = _refused(exc)
        message = ("Another account already uses this email" if error.code == "email_taken"
                   else error.message)
        return await _account_view(request, page, rt, status=error.status_code,
                                   email_errors=[message], new_email=email)
    return redirect(request, page, "/settings/account?email=changed")


@router.post("/settings/account/verify-email", response_class=HTMLResponse)
async def resend_verification(request: Request, page: PageDep, rt: RtDep,
                              csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new confirmation mail to the account's address: the sign-up's link expires
    (``FOCUSHUB_EMAIL_TOKEN_TTL_SECONDS``), and the address stays unconfirmed until one is
    followed. Under the mail limits of the API's ``/auth/verify-email/request``."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    me = await users_service.get_me(rt, page.caller)
    await auth_service.request_email_token(rt, me.email, "verify_email",
                                          client=client_address(request))
    return redirect(request, page, "/settings/account?verify=sent")


@router.post("/settings/account/password", response_class=HTMLResponse)
async def change_password(request: Request, page: PageDep, rt: RtDep,
                          current_password: Annotated[str, Form(max_length=1000)] = "",
                          new_password: Annotated[str, Form(max_length=1000)] = "",
                          confirm_password: Annotated[str, Form(max_length=1000)] = "",
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new password, with the current one. Every other session of the account ends; this
    one goes on, since its access token names the refresh token family in its cookie."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    errors: list[str] = []
    try:
        data = PasswordChange(current_password=current_password, new_password=new_password)
    except ValidationError as exc:
        fields = {e["loc"][0] for e in exc.errors() if e["loc"]}
        if "current_password" in fields:
            errors.append("Enter your current password")
        if "new_password" in fields:
            errors.append(f"The new password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if new_password != confirm_password:
        errors.append("The new password and its confirmation are not the same")
    if errors:
        return await _account_view(request, page, rt, status=422, password_errors=errors)
    try:
        await auth_service.change_password(rt, page.caller, data.current_password,
                                           data.new_password)
    except (AppError, DBAPIError) as exc:
        error = _refused(exc)
        return await _account_view(request, page, rt, status=error.status_code,
                                   password_errors=[error.message])
    return redirect(request, page, "/settings/account?password=changed")


@router.get("/settings/account/export")
async def export_account(request: Request, page: PageDep, rt: RtDep) -> Response:
    """Download everything the account holds (the API's export, as a zip). The temporary
    file is removed once sent, or when the download is abandoned. A large account is sent
    to the account page, whose form has the zip made by a job."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    if not await accounts_service.export_is_small(rt, page.caller):
        return redirect(request, page, "/settings/account#export-heading")
    path, filename = await accounts_service.export_account(rt, page.caller)
    response = FileResponse(path, media_type="application/zip", filename=filename,
                            headers={"Cache-Control": "no-store"},
                            background=BackgroundTask(path.unlink, missing_ok=True))
    session.write_cookies(response, request, page)
    return response


@router.post("/settings/account/export", response_class=HTMLResponse)
async def request_export(request: Request, page: PageDep, rt: RtDep,
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    """Have the export made by a job (the API's ``POST /users/me/export``); the account page
    then shows its state, and its link once ready."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    await accounts_service.request_export(rt, page.caller)
    return redirect(request, page, "/settings/account?export=requested#export-heading")


@router.get("/settings/account/exports/{export_id}/download")
async def download_export(request: Request, page: PageDep, rt: RtDep,
                          export_id: UUID) -> Response:
    """The zip of a ready export of the caller's until it expires (404 for anyone else)."""
    if (gone := _need_login(request, page)) is not None:
        return gone
    stored = await accounts_service.open_export(rt, page.caller, export_id)
    response = await file_response(
        rt.storage, stored["storage_key"], headers=request.headers,
        content_type="application/zip", size=stored["size"], sha256=stored["sha256"],
        modified_at=stored["finished_at"], name=stored["file_name"], inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    session.write_cookies(response, request, page)
    return response


@router.post("/settings/account/delete", response_class=HTMLResponse)
async def delete_account(request: Request, page: PageDep, rt: RtDep,
                         password: Annotated[str, Form(max_length=1000)] = "",
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete the account after checking the password; then signed out, on the front page."""
    if (gone := _guard(request, page, csrf_token)) is not None:
        return gone
    try:
        await accounts_service.delete_account(rt, page.caller, AccountDelete(password=password))
    except ValidationError:
        error, status = "The password is wrong", 403
    except (AppError, DBAPIError) as exc:
        app_error = as_app_error(exc)
        if app_error is None or app_error.status_code >= 500 or app_error.status_code == 429:
            raise
        error, status = app_error.message, app_error.status_code
    else:
        page.clear = True
        page.set_cookies.pop(session.ACCESS, None)
        page.set_cookies.pop(session.REFRESH, None)
        return redirect(request, page, "/?deleted=1")
    return await _account_view(request, page, rt, status=status, delete_error=error)
