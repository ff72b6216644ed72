"""What every page module shares: the templates and their filters, the page's caller and
runtime as dependencies, rendering with the pages' headers and cookies, redirects, the
login and CSRF guard of a form post, and how a refused form or draft is said on its page.

The pages themselves are in ``web/pages/``, one module per part of the site; each calls
the same service functions as the API, as the page's caller. Forms post back to the
page's own path and redirect after success (303), so a reload never resubmits; every POST
checks the CSRF value (``session.check_csrf``).
"""

from __future__ import annotations

import string
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from uuid import UUID

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import StringConstraints, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.routing import Match

from focushub.content.fields import split_tags
from focushub.core.db import ANONYMOUS
from focushub.core.errors import AppError, as_app_error, response_headers
from focushub.core.runtime import Runtime
from focushub.core.schemas import Password
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


def urlquote(value: object) -> str:
    text = str(value)
    return text.translate(_URL_ESCAPES) if text.isascii() else quote(text, safe="")


templates.env.filters["urlquote"] = urlquote


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
    page = await session.load(request, request.app.state.runtime)
    if request.method == "POST" and not page.signed_in:
        # A form sent by someone whose session ended meanwhile (logged out in another tab,
        # expired): what it sent, for ``guard`` to carry through the login page. FastAPI
        # parsed it for the handler's fields already; Starlette hands back that parse.
        request.state.form = await request.form()
    return page


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
    keep_private(response, page)
    session.write_cookies(response, request, page)
    return response


def keep_private(response: Response, page: PageSession) -> None:
    """A signed-in user's page (or the answer that ends a session) is never stored by the
    browser: after logging out, Back must not show it again from the cache. Pages for
    anonymous visitors keep their default caching."""
    if page.signed_in or page.clear:
        response.headers["Cache-Control"] = "no-store"


def comment_texts(comments: Iterable[Any]) -> Iterator[str]:
    """The texts of comments and of the replies shown under them (``_comment.html``)."""
    for c in comments:
        yield c.content
        yield from comment_texts(getattr(c, "replies", None) or ())


def redirect(request: Request, page: PageSession, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    keep_private(response, page)
    session.write_cookies(response, request, page)
    return response


def need_login(request: Request, page: PageSession) -> Response | None:
    if page.signed_in:
        return None
    return _to_login(request, page)


def _to_login(request: Request, page: PageSession) -> Response:
    """To the login page, which comes back here after: the query too (a report form's
    ``?type=&id=``, a list's filter), without which the page is not the same."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not is_htmx(request):
        return redirect(request, page, f"/login?next={quote(here, safe='')}")
    # htmx follows a redirect by itself and would put the whole login page in place of a
    # button or a list: it is told to open the login page instead, which comes back to the
    # page it was on.
    shown = urlsplit(request.headers.get("hx-current-url", ""))
    here = safe_next(shown.path + (f"?{shown.query}" if shown.query else "")
                     if shown.netloc == request.url.netloc else None)
    response = Response(status_code=401,
                        headers={"HX-Redirect": f"/login?next={quote(here, safe='')}"})
    keep_private(response, page)
    session.write_cookies(response, request, page)
    return response


def guard(request: Request, page: PageSession, csrf_token: str) -> Response | None:
    """For a form post: when signed out, the login page that sends the form again
    (``signed_out_form``); else None once the CSRF value checks out (a wrong one raises
    403)."""
    if not page.signed_in:
        return signed_out_form(request, page, csrf_token)
    session.check_csrf(request, page, csrf_token)
    return None


def _not_kept(name: str) -> bool:
    """A form field never written into a page: the CSRF value and any password."""
    return name == "csrf_token" or "password" in name


KEPT = "keep:"  # the prefix of a carried field's name in the login form


def carried(form: Any) -> list[tuple[str, str]]:
    """The fields a login form carries for ``signed_out_form``, by their own names."""
    return [(name.removeprefix(KEPT), value) for name, value in form.multi_items()
            if name.startswith(KEPT) and isinstance(value, str)
            and not _not_kept(name.removeprefix(KEPT))]


def _typed(name: str, value: str) -> bool:
    """Whether a carried field is something a person typed or chose, worth showing before
    sending it again (not a page's own hidden id, address or time)."""
    if name in ("back", "next", "until") or not value.strip():
        return False
    try:
        UUID(value)
    except ValueError:
        return True
    return False


def resend_page(request: Request, page: PageSession, action: str,
                kept: list[tuple[str, str]], back: str) -> Response:
    """After logging in from ``signed_out_form``: what the form sent, shown, and a button
    that sends it to ``action`` (whose handler judges it as any post)."""
    shown = [(name.replace("_", " ").capitalize(), value) for name, value in kept
             if _typed(name, value)]
    return render(request, page, "resend.html", action=action, kept=kept, shown=shown,
                  back=back)


def _is_page(request: Request, path: str) -> bool:
    """Whether a GET of ``path`` is answered by one of the site's routes."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def signed_out_form(request: Request, page: PageSession, csrf_token: str) -> Response:
    """A form post that arrived signed out: its session ended while the form was open.
    Redirected to the login page, what was typed would be lost (the form's page cannot be
    shown again without a session, so Back does not bring it back either); instead the
    login page is answered in place (401) carrying the form's fields, and logging in offers
    to send them to where they were going (``login`` in ``pages/sessions.py``). Only for a
    form of this site's own pages (its CSRF value checks out: another site's forged post
    is not carried into anyone's session), never passwords or files; an htmx request, or
    one without its form, gets the login redirect."""
    form = getattr(request.state, "form", None)
    try:
        session.check_csrf(request, page, csrf_token)
    except AppError:
        form = None
    if form is None or is_htmx(request):
        return _to_login(request, page)
    kept = [(name, value) for name, value in form.multi_items()
            if isinstance(value, str) and not _not_kept(name)]
    files = any(not isinstance(value, str) and getattr(value, "filename", "")
                for _, value in form.multi_items())
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # Where "Do not send it" leads: the page of the form, unless that page was the answer
    # to a post to an address no link loads (a refused comment's draft page).
    came_from = urlsplit(request.headers.get("referer", ""))
    back = safe_next(came_from.path + (f"?{came_from.query}" if came_from.query else "")
                     if came_from.netloc == request.url.netloc
                     and _is_page(request, came_from.path) else None)
    return render(request, page, "login.html", status=401, next=back,
                  resend_to=safe_next(target), kept=kept, files_dropped=files)


def form_errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def field_errors(exc: ValidationError) -> dict[str, str]:
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


def refusal(exc: Exception, page: PageSession) -> AppError:
    """The error of a write the server refused for now or for its content (a rate limit:
    429; too many mentions, a block: 403, 409, 422), to say on the page with what was
    written; anything else (404, our own faults) goes on to the error pages.

    A session that ended while the form was open (logged out everywhere, a password changed
    elsewhere, a suspension: 401) is said there too, and ``page`` is signed out (its cookies
    go): sending the form again then goes through the login page, which carries what was
    typed (``signed_out_form``), where the error page would have lost it."""
    error = as_app_error(exc)
    if error is not None and error.status_code == 401:
        page.caller, page.clear = ANONYMOUS, True
        page.set_cookies.pop(session.ACCESS, None)
        page.set_cookies.pop(session.REFRESH, None)
        return error
    if error is None or error.status_code not in (403, 409, 422, 429):
        raise exc
    return error


def invalid(exc: ValidationError) -> AppError:
    """A text refused by its schema (too long…) as the error a draft page says."""
    return AppError(next(iter(field_errors(exc).values()), "Check what you wrote"),
                    code="validation_error", status_code=422)


def with_retry_after(response: Response, error: AppError) -> Response:
    for name, value in (response_headers(error) or {}).items():
        response.headers[name] = value
    return response


def in_words(error: AppError) -> str:
    """A refusal's message for its form, saying when to try again where the message only
    says "later" (the log-in and sign-up limits): its ``Retry-After``, in words."""
    seconds = error.details.get("retry_after_seconds") if isinstance(error.details, dict) \
        else None
    if error.status_code != 429 or not seconds or not error.message.endswith("try again later"):
        return error.message
    return f"{error.message.removesuffix('later')}in {wait(seconds)}."


def wait(seconds: object) -> str:
    """``45 seconds``, ``2 minutes``: a ``Retry-After`` as people say it (whole minutes,
    rounded up, from 90 seconds)."""
    n = int(str(seconds))
    return counted(n, "second") if n < 90 else counted(-(-n // 60), "minute")


templates.env.filters["wait"] = wait


def draft_refused(request: Request, page: PageSession, error: AppError, *, action: str,
                   noun: str, verb: str, label: str, content: str, back: str,
                   hidden: dict[str, str] | None = None) -> Response:
    """A refused comment, reply, answer or message, given back whole on a page of its own
    with the reason and a form to send it again (the page it came from kept nothing)."""
    response = render(request, page, "draft.html", status=error.status_code, action=action,
                      noun=noun, verb=verb, label=label, content=content, back=back,
                      hidden=hidden or {}, error=error.message)
    return with_retry_after(response, error)


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/``: for redirects and for the links
    pages make of it (``back``). Browsers read ``\\`` as ``/`` in a link and drop tabs and
    line breaks from it, so ``/\\evil.example`` or ``/<tab>/evil.example`` would be
    ``//evil.example``, another site; no control character, backslash or space is taken."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(c == "\\" or c <= " " or c == "\x7f" for c in value):
        return "/"
    return value





async def save_edit(request: Request, page: PageSession, template: str, item_id: UUID,
                     shown_at: str, form: dict[str, str], model: type[Any],
                     save: Callable[[Any], Awaitable[None]]) -> Response:
    """An edit form's post (a post's or a question's title, text and tags): saved, then to
    ``shown_at``; refused, the form again with what was typed and why (a 403 goes on to the
    error page: the database refuses anyone but the author)."""
    try:
        data = model(title=form["title"], content=form["content"], tags=split_tags(form["tags"]))
    except ValidationError as exc:
        return render(request, page, template, status=422, form=form, editing={"id": item_id},
                      field_errors=field_errors(exc))
    try:
        await save(data)
    except (AppError, DBAPIError) as exc:
        error = refusal(exc, page)
        if error.status_code == 403:
            raise error from exc
        return render(request, page, template, status=error.status_code, form=form,
                      editing={"id": item_id}, errors=[error.message])
    return redirect(request, page, shown_at)


async def save_new(request: Request, page: PageSession, template: str, form: dict[str, str],
                   model: type[Any], create: Callable[[Any], Awaitable[Any]],
                   shown_at: Callable[[Any], str]) -> Response:
    """A new post's or question's form (title, text and tags): created, then to
    ``shown_at(created)``; refused by its schema or by the server (too many mentions, too
    many for now: 429 with when to try again), the form again with what was written and why."""
    try:
        data = model(title=form["title"], content=form["content"], tags=split_tags(form["tags"]))
    except ValidationError as exc:
        return render(request, page, template, status=422, form=form,
                      field_errors=field_errors(exc))
    try:
        created = await create(data)
    except (AppError, DBAPIError) as exc:
        error = refusal(exc, page)
        return with_retry_after(render(request, page, template, status=error.status_code,
                                       errors=[error.message], form=form), error)
    return redirect(request, page, shown_at(created))


FIND_PAGES = 50


def holds(items: list[Any], wanted: UUID) -> bool:
    """Whether ``wanted`` is among ``items`` or, for comments, their shown replies."""
    return any(item.id == wanted or holds(getattr(item, "replies", []), wanted)
               for item in items)


async def page_holding(wanted: UUID, first: Any, fetch: Any) -> Any | None:
    """The page (``Page``) holding ``wanted``, walking on from page ``first`` with
    ``fetch(cursor)``; None when it is not shown on any of the pages looked at."""
    found = first
    for _ in range(FIND_PAGES):
        if holds(found.items, wanted):
            return found
        if found.next_cursor is None:
            return None
        found = await fetch(found.next_cursor)
    return None


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (to answer with a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"
