"""FastAPI dependencies shared by every domain: the runtime and the caller.

:func:`caller_from_token` is the one place a bearer token becomes a caller; the
HTTP dependencies and the realtime gateway both use it.

The dependencies are ``async def`` although they never await: FastAPI runs plain
``def`` dependencies in its thread pool, which costs a thread hop per dependency
per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from focushub.core import observability
from focushub.core.db import ANONYMOUS, Caller
from focushub.core.errors import Unauthorized
from focushub.core.runtime import Runtime
from focushub.core.security import decode_access_token
from focushub.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, scheme_name="OptionalBearer",
                     description="Access token from /api/v1/auth/login")
# The same header, declared again by require_user so the OpenAPI document can tell the
# operations that need a token from those where it is optional (mark_optional_sign_in).
_required_bearer = HTTPBearer(auto_error=False, scheme_name="HTTPBearer",
                              description="Access token from /api/v1/auth/login")


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


async def require_user(
    caller: Annotated[Caller, Depends(get_caller)],
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_required_bearer)],
) -> Caller:
    if not caller.is_authenticated:
        raise Unauthorized("Sign in to do this", code="not_authenticated")
    return caller


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CallerDep = Annotated[Caller, Depends(get_caller)]
UserDep = Annotated[Caller, Depends(require_user)]



def mark_optional_sign_in(app: FastAPI) -> None:
    """Make the OpenAPI document say which operations need a token. Every operation that
    reads the caller lists ``OptionalBearer`` (``get_caller``); those that require one also
    list ``HTTPBearer`` (``require_user``). Public operations become
    ``security: [{}, {HTTPBearer: []}]`` (a token is optional), the others
    ``[{HTTPBearer: []}]``, and only the ``HTTPBearer`` scheme is documented."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                names = {name for req in operation.get("security", []) for name in req}
                if not names:
                    continue
                required = [{"HTTPBearer": []}]
                operation["security"] = required if "HTTPBearer" in names else [{}, *required]
        schemes = schema.get("components", {}).get("securitySchemes", {})
        optional = schemes.pop("OptionalBearer", None)
        if optional is not None:
            schemes.setdefault("HTTPBearer", optional)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
