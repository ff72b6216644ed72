"""FastAPI dependencies shared by every domain: the engine and the caller.

They are ``async def`` although they never await: FastAPI runs plain ``def``
dependencies in its thread pool, which costs a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.db import ANONYMOUS, Caller
from focushub.core.errors import Unauthorized
from focushub.core.security import decode_access_token
from focushub.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The anonymous caller without a token; 401 for a token that is present but bad."""
    if credentials is None:
        return ANONYMOUS
    settings: Settings = request.app.state.settings
    access = decode_access_token(
        credentials.credentials,
        secret=request.app.state.jwt_secret,
        issuer=settings.jwt_issuer,
    )
    return Caller(role="authenticated", user_id=access.user_id, claims=access.claims)


async def require_user(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_authenticated:
        raise Unauthorized("Sign in to do this", code="not_authenticated")
    return caller


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CallerDep = Annotated[Caller, Depends(get_caller)]
UserDep = Annotated[Caller, Depends(require_user)]
