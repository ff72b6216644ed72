"""FastAPI dependencies shared by every domain: the runtime and the caller.

:func:`caller_from_token` is the one place a bearer token becomes a caller; the
HTTP dependencies and the realtime gateway both use it.

The dependencies are ``async def`` although they never await: FastAPI runs plain
``def`` dependencies in its thread pool, which costs a thread hop per dependency
per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from focushub.core import observability
from focushub.core.db import ANONYMOUS, Caller
from focushub.core.errors import Unauthorized
from focushub.core.runtime import Runtime
from focushub.core.security import decode_access_token
from focushub.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For already applied, see
    ``Settings.trusted_proxies``): the key of per-address limits and anonymous views."""
    return request.client.host if request.client else "unknown"


def caller_from_token(rt: Runtime, token: str) -> Caller:
    """The signed-in caller of an access token; raises ``Unauthorized`` (401) when the
    token is invalid or expired. ``caller.claims["exp"]`` is its expiry."""
    access = decode_access_token(token, secret=rt.jwt_secret, issuer=rt.settings.jwt_issuer)
    return Caller(role="authenticated", user_id=access.user_id, claims=access.claims)


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.runtime.settings


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The anonymous caller without a token; 401 for a token that is present but bad."""
    if credentials is None:
        return ANONYMOUS
    caller = caller_from_token(request.app.state.runtime, credentials.credentials)
    observability.user_id.set(str(caller.user_id))
    return caller


async def require_user(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_authenticated:
        raise Unauthorized("Sign in to do this", code="not_authenticated")
    return caller


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CallerDep = Annotated[Caller, Depends(get_caller)]
UserDep = Annotated[Caller, Depends(require_user)]
