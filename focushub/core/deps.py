"""FastAPI dependencies shared by every domain: the runtime and the caller.

:func:`caller_from_token` is the one place a bearer token becomes a caller; the
HTTP dependencies and the realtime gateway both use it.

The dependencies are ``async def`` although they never await: FastAPI runs plain
``def`` dependencies in its thread pool, which costs a thread hop per dependency
per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPBearer

from focushub.core import observability
from focushub.core.db import ANONYMOUS, Caller
from focushub.core.errors import Unauthorized
from focushub.core.routing import api_routes, request_value
from focushub.core.runtime import Runtime
from focushub.core.security import decode_access_token
from focushub.core.settings import Settings

# The scheme the OpenAPI document names (mark_optional_sign_in); requests read the header
# themselves (get_caller), which spares FastAPI a dependency to solve on every request.
_BEARER_SCHEME = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For already applied, see
    ``Settings.trusted_proxies``): the key of per-address limits and anonymous views."""
    return request.client.host if request.client else "unknown"


def caller_from_token(rt: Runtime, token: str) -> Caller:
    """The signed-in caller of an access token; raises ``Unauthorized`` (401) when the
    token is invalid or expired. ``caller.claims["exp"]`` is its expiry."""
    access = decode_access_token(token, secret=rt.jwt_secret, issuer=rt.settings.jwt_issuer)
    return Caller(role="authenticated", user_id=access.user_id, claims=access.claims)


@request_value
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


@request_value
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.runtime.settings


@request_value
async def get_caller(request: Request) -> Caller:
    """The anonymous caller without ``Authorization: Bearer <token>``; 401 for a token that
    is present but bad. (Another scheme, or the word alone, is no token, as FastAPI's
    ``HTTPBearer(auto_error=False)`` reads it.)"""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return ANONYMOUS
    caller = caller_from_token(request.app.state.runtime, token)
    observability.user_id.set(str(caller.user_id))
    return caller


@request_value
async def require_user(request: Request) -> Caller:
    caller = await get_caller(request)
    if not caller.is_authenticated:
        raise Unauthorized("Sign in to do this", code="not_authenticated")
    return caller


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CallerDep = Annotated[Caller, Depends(get_caller)]
UserDep = Annotated[Caller, Depends(require_user)]


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def mark_optional_sign_in(app: FastAPI) -> None:
    """Make the OpenAPI document say which operations take a token. An operation whose
    dependencies include :func:`require_user` needs one: ``security: [{HTTPBearer: []}]``;
    one that reads the caller (:func:`get_caller`) takes one if given:
    ``[{}, {HTTPBearer: []}]``; the others say nothing. ``HTTPBearer`` is the one scheme
    documented."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        paths = schema.get("paths", {})
        for route in api_routes(app.routes):
            if route.path_format not in paths:
                continue
            calls = set(_calls(route.dependant))
            if require_user in calls:
                security: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
            elif get_caller in calls:
                security = [{}, {"HTTPBearer": []}]
            else:
                continue
            for method in route.methods:
                operation = paths[route.path_format].get(method.lower())
                if operation is not None:
                    operation["security"] = security
        scheme = _BEARER_SCHEME.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["HTTPBearer"] = scheme
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
