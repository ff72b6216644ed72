"""Friendly error pages for the web app; the API keeps its JSON error shape.

A page request (any path outside ``/api/``, ``/docs``, ``/openapi.json``, the health
checks and static files) that fails gets an HTML page with the same status: 404 for
what does not exist or may not be seen (and for an address whose id is malformed), 403, 413 with the size limit, 429 with when to
retry, 500 without internals. Everything else goes to the JSON handlers of
``core/errors.py``; a body refused by ``core.middleware.BodyLimitMiddleware`` (before any
handler) comes here through ``body_refusal``. A signed-in
person's error page keeps their header (and, like their other pages, is not cached).
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.types import Scope

from focushub.core.db import ANONYMOUS, Caller
from focushub.core.deps import caller_from_token
from focushub.core.errors import AppError
from focushub.web.session import ACCESS, CSRF, REFRESH, PageSession

_API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/static/",
                 "/static-offline-docs/")

TITLES = {
    400: ("Something is wrong with that request", "Please check what you sent and try again."),
    401: ("Please log in", "You need to be signed in to do that."),
    403: ("Not allowed", "You may not do that."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    409: ("That changed meanwhile", "Reload the page and try again."),
    413: ("Too large", "That is more than Focus Hub accepts."),
    415: ("Not accepted", "That type of file or content is not accepted."),
    422: ("Something is wrong with that form", "Please check the fields and try again."),
    429: ("Slow down", "Too many requests for now."),
    500: ("Something went wrong on our side", "It has been logged; please try again later."),
}


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(_API_PREFIXES)


def _caller(request: Request, status: int) -> Caller:
    """Who the error page is shown to: the signed-in person of a valid access cookie, so that
    the header stays theirs (and the page is not cached), else anonymous. No token is
    refreshed here: an error page does not rotate a session."""
    access = request.cookies.get(ACCESS)
    runtime = getattr(request.app.state, "runtime", None)
    if status == 401 or not access or runtime is None:
        return ANONYMOUS
    try:
        return caller_from_token(runtime, access)
    except AppError:
        return ANONYMOUS


def error_page(request: Request, status: int, message: str | None = None,
               retry_after: str | None = None) -> Response:
    """The error page of ``status`` for a page request, in the signed-in layout when the
    request carries a valid access cookie."""
    from focushub.web.kit import render  # the templates, once

    title, default = TITLES.get(status, TITLES[500 if status >= 500 else 400])
    page = PageSession(_caller(request, status), request.cookies.get(CSRF, ""), {})
    response = render(request, page, "error.html", status=status, title=title,
                      message=message or default, retry_after=retry_after)
    if retry_after:
        response.headers["Retry-After"] = retry_after
    if status == 401:  # an ended session: forget its cookies
        for name in (ACCESS, REFRESH):
            response.delete_cookie(name, path="/")
    return response


def body_refusal(scope: Scope, status: int, code: str, message: str, limit: int,
                 upload: bool) -> Response | None:
    """A page's answer to a body the body limit refused (``core.middleware.Refusal``): the
    error page, saying the limit in words; None (the error shape) for everything else."""
    from focushub.web.kit import size

    request = Request(scope)
    if not is_page(request):
        return None
    if status == 413:
        if upload:  # the form's file: its own limit is what the person can act on
            files = request.app.state.runtime.settings.max_upload_bytes
            message = (f"Files may be at most {size(files)}; "
                       "choose a smaller file.")
        else:
            message = (f"A form may send at most {size(limit)}; "
                       "shorten what you wrote and send it again.")
    return error_page(request, status, message)


def _malformed_address(exc: Exception) -> bool:
    """Whether a request failed only on its path's parameters (an id that is no UUID, from a
    link cut short or mistyped): such an address names no page, which is 404, as for an id
    that names nothing; what a form or a query sent stays 422."""
    return isinstance(exc, RequestValidationError) and bool(exc.errors()) and all(
        e.get("loc", ("",))[0] == "path" for e in exc.errors())


def install(app: FastAPI) -> None:
    """Wrap the JSON handlers: pages get HTML, everything else what it got before."""
    json_handlers = dict(app.exception_handlers)

    def wrap(kind: type[Exception] | int):  # noqa: ANN202
        fallback = json_handlers[kind]

        async def handler(request: Request, exc: Exception) -> Response:
            if is_page(request) and _malformed_address(exc):
                return error_page(request, 404)
            response = await fallback(request, exc)  # logs what must be logged
            if not is_page(request):
                return response
            message = None
            if response.status_code < 500:
                try:
                    message = orjson.loads(bytes(response.body))["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    message = None
            return error_page(request, response.status_code, message,
                              response.headers.get("retry-after"))

        return handler

    # Every JSON handler (AppError, database errors, validation, 404s, the unexpected…).
    for kind in list(json_handlers):
        app.add_exception_handler(kind, wrap(kind))
