"""Browser sessions: the API's tokens in cookies, and CSRF protection.

* ``fh_access`` (the access token) and ``fh_refresh`` (the refresh token): HttpOnly,
  SameSite=Lax, Secure when the request came over HTTPS. A page whose access token has
  expired is served after rotating the refresh token (its reuse detection applies),
  with the new cookies set on the response.
* CSRF: a random ``fh_csrf`` cookie (HttpOnly, SameSite=Lax) and the same value in
  every page (``<meta name="csrf-token">``, and a hidden field in every form). A POST
  must echo it in the ``csrf_token`` field or the ``X-CSRF-Token`` header (htmx sends
  the header). Another site can make a browser send the cookie, but cannot read the
  page to learn the value.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

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
            start(session, await auth_service.refresh(rt, refresh), rt)
        except AppError:
            session.clear = True
    return session


def check_csrf(request: Request, session: PageSession, submitted: str | None) -> None:
    """Refuse a state-changing request without the page's CSRF value (403)."""
    sent = submitted or request.headers.get("x-csrf-token") or ""
    if not session.csrf or not hmac.compare_digest(sent, session.csrf) or not request.cookies.get(CSRF):
        raise AppError("The form has expired or did not come from this site; reload the page",
                       code="csrf_failed", status_code=403)
