"""Browser sessions: the API's tokens in cookies, and CSRF protection.

* ``fh_access`` (the access token) and ``fh_refresh`` (the refresh token): HttpOnly,
  SameSite=Lax, Secure when the request came over HTTPS. A page whose access token has
  expired is served after rotating the refresh token (its reuse detection applies),
  with the new cookies set on the response. Requests that bring the same refresh cookie
  to one process within ``ROTATION_SHARED_SECONDS`` share that rotation's new session
  (a page and its badge, two tabs), rather than the second ending it as a reuse.
* CSRF: a random ``fh_csrf`` cookie (HttpOnly, SameSite=Lax) and the same value in
  every page (``<meta name="csrf-token">``, and a hidden field in every form). A POST
  must echo it in the ``csrf_token`` field or the ``X-CSRF-Token`` header (htmx sends
  the header). Another site can make a browser send the cookie, but cannot read the
  page to learn the value.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from focushub.auth import service as auth_service
from focushub.core.db import ANONYMOUS, Caller
from focushub.core.deps import caller_from_token
from focushub.core.errors import AppError
from focushub.core.runtime import Runtime

ACCESS, REFRESH, CSRF = "fh_access", "fh_refresh", "fh_csrf"


@dataclass
class PageSession:
    caller: Caller
    csrf: str
    # Cookies to set or clear on the response (rotation, a fresh CSRF token).
    set_cookies: dict[str, tuple[str, int]]
    clear: bool = False

    @property
    def signed_in(self) -> bool:
        return self.caller.is_authenticated


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def write_cookies(response: Response, request: Request, session: PageSession) -> None:
    for name, (value, max_age) in session.set_cookies.items():
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                            secure=_secure(request), path="/")
    if session.clear:
        for name in (ACCESS, REFRESH):
            response.delete_cookie(name, path="/")


def start(session: PageSession, tokens: object, rt: Runtime) -> None:
    """Remember freshly issued tokens (sign-up, login, rotation) in the session's cookies."""
    access = tokens.access_token  # type: ignore[attr-defined]
    session.set_cookies[ACCESS] = (access, rt.settings.access_token_ttl_seconds)
    session.set_cookies[REFRESH] = (tokens.refresh_token,  # type: ignore[attr-defined]
                                    rt.settings.refresh_token_ttl_seconds)
    session.caller = caller_from_token(rt, access)


async def load(request: Request, rt: Runtime) -> PageSession:
    """The caller of a page request (anonymous without a valid session) and its CSRF value."""
    csrf = request.cookies.get(CSRF) or ""
    session = PageSession(ANONYMOUS, csrf, {})
    if not csrf:
        session.csrf = secrets.token_urlsafe(32)
        session.set_cookies[CSRF] = (session.csrf, 30 * 24 * 3600)
    access = request.cookies.get(ACCESS)
    if access:
        try:
            session.caller = caller_from_token(rt, access)
            return session
        except AppError:
            pass
    refresh = request.cookies.get(REFRESH)
    if refresh:
        try:
            start(session, await _rotate(rt, refresh), rt)
        except AppError as exc:
            # Raced: another process renewed this session a moment ago, and its answer sets
            # the new cookies; this request goes unsigned rather than ending it (0052).
            session.clear = exc.code != "token_raced"
    return session


# How long a rotation's result answers the same refresh cookie again: the requests a browser
# sent with it before the first answer's new cookies arrived (a page and the header's badge,
# two tabs) are given the same new session instead of spending it a second time.
ROTATION_SHARED_SECONDS = 10.0
# refresh token -> (time.monotonic() of the rotation, its result), this process's lately
_ROTATIONS: dict[str, tuple[float, asyncio.Future[Any]]] = {}


async def _rotate(rt: Runtime, refresh: str) -> Any:
    """``auth_service.refresh(refresh)``, once for the requests that carry the same refresh
    cookie at about the same time. A refresh token presented twice revokes its whole family
    (theft detection): a page and the header's badge whose access token expired together
    rotated it twice, and the second rotation ended the session the first had just renewed,
    logging the person out. (Within one process; requests of one browser spread over
    several processes race, and the database answers the later ones ``token_raced``
    without ending the session, 0052.)"""
    now = time.monotonic()
    for token, (at, _) in list(_ROTATIONS.items()):
        if now - at > ROTATION_SHARED_SECONDS:
            del _ROTATIONS[token]
    shared = _ROTATIONS.get(refresh)
    if shared is None:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        _ROTATIONS[refresh] = (now, future)
        try:
            future.set_result(await auth_service.refresh(rt, refresh))
        except asyncio.CancelledError:
            _ROTATIONS.pop(refresh, None)
            future.cancel()  # those waiting rotate by themselves
            raise
        except Exception as exc:
            _ROTATIONS.pop(refresh, None)  # a failure is not kept: the next one asks again
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
        return future.result()
    try:
        return await asyncio.shield(shared[1])
    except asyncio.CancelledError:
        if not shared[1].cancelled():
            raise  # this request itself was cancelled
        return await _rotate(rt, refresh)


def check_csrf(request: Request, session: PageSession, submitted: str | None) -> None:
    """Refuse a state-changing request without the page's CSRF value (403)."""
    sent = submitted or request.headers.get("x-csrf-token") or ""
    if not session.csrf or not hmac.compare_digest(sent, session.csrf) or not request.cookies.get(CSRF):
        raise AppError("The form has expired or did not come from this site; reload the page",
                       code="csrf_failed", status_code=403)
