"""The router every domain declares its operations on, and the handler of direct routes."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, get_type_hints

from fastapi import APIRouter, HTTPException, params
from fastapi._compat import ModelField, field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.telemetry._api import _route_selected
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, WebSocketRoute, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
RequestValue = Callable[[Request], Awaitable[Any]]

_REQUEST_VALUES: set[RequestValue] = set()
_NO_BODY = object()


def request_value(fn: RequestValue) -> RequestValue:
    """Mark ``fn`` (``async def fn(request)``, no dependencies of its own) as a value a
    direct route may take through ``Depends``: the runtime, the caller (``core.deps``)."""
    _REQUEST_VALUES.add(fn)
    return fn


def _json_invalid(exc: json.JSONDecodeError) -> RequestValidationError:
    """What FastAPI raises for a body that is not JSON."""
    return RequestValidationError([{
        "type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
        "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc)


def direct_handler(dependant: Dependant) -> Handler | None:
    """The request handler of a *direct* route, or None when the route is not one.

    A direct route's endpoint returns a ``Response`` and takes only path and query
    parameters, at most one JSON body (a Pydantic model), the ``Request``, and request
    values (:func:`request_value`). FastAPI's own handler is general: it solves a graph
    of dependencies (caching, scopes, exit stacks, security scopes, overrides), reads the
    body for forms and files, and validates or serializes the response; on the vote that
    was a third of the request's CPU. This handler does the same steps for that one shape,
    in FastAPI's order and with FastAPI's errors: the body is read and parsed first (not
    JSON, or not UTF-8: 400), the request values are awaited in the order declared (a 401
    comes before any validation error), then path, query and body are validated together
    (422 with every error). Dependency overrides and dependencies given to ``include_router`` are
    not applied to direct routes (the application uses neither).
    """
    if (dependant.header_params or dependant.cookie_params or len(dependant.body_params) > 1
            or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name or dependant.websocket_param_name
            or dependant.http_connection_param_name
            or not inspect.iscoroutinefunction(dependant.call)
            or any(sub.call not in _REQUEST_VALUES for sub in dependant.dependencies)):
        return None
    body_name: str | None = None
    body_model: TypeAdapter[Any] | None = None
    if dependant.body_params:
        field = dependant.body_params[0]
        info = field.field_info
        if (isinstance(info, params.Form) or info.embed
                or not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel))):
            return None
        body_name, body_model = field.name, TypeAdapter(info.annotation)
    values_of = [(sub.name, sub.call) for sub in dependant.dependencies]
    path_fields = dependant.path_params
    query_models: list[tuple[ModelField, tuple[str, ...]]] = []
    query_fields: list[ModelField] = []  # any other query parameter: FastAPI's function reads it
    for field in dependant.query_params:
        names = _plain_query_model(field)
        if names is None:
            query_fields.append(field)
        else:
            query_models.append((field, names))
    request_name, call = dependant.request_param_name, dependant.call
    assert call is not None

    async def handle(request: Request) -> Response:
        received: Any = _NO_BODY
        if body_model is not None:
            raw = await request.body()
            if raw:
                try:
                    received = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise _json_invalid(exc) from exc
                except ValueError as exc:  # not UTF-8, say
                    raise HTTPException(400, "There was an error parsing the body") from exc
        values: dict[str, Any] = {}
        for name, get in values_of:
            value = await get(request)
            if name is not None:
                values[name] = value
        errors: list[Any] = []
        path = request.path_params
        for field in path_fields:  # present whenever the route matched
            value, bad = field.validate(path[field.alias], values, loc=("path", field.alias))
            if bad:
                errors += bad
            else:
                values[field.name] = value
        for field, names in query_models:
            query = request.query_params
            given = {name: value for name in names if (value := query.get(name)) is not None}
            value, bad = field.validate(given, values, loc=("query",))
            if bad:
                errors += bad
            else:
                values[field.name] = value
        if query_fields:
            found, bad = request_params_to_args(query_fields, request.query_params)
            values.update(found)
            errors += bad
        if body_model is not None:
            if received is _NO_BODY:
                errors.append({"type": "missing", "loc": ("body",), "msg": "Field required",
                               "input": None})
            else:
                try:
                    values[body_name] = body_model.validate_python(  # type: ignore[index]
                        received, from_attributes=True)
                except ValidationError as exc:
                    errors += [{**e, "loc": ("body", *e["loc"])}
                               for e in exc.errors(include_url=False)]
        if errors:
            raise RequestValidationError(errors, body=None if received is _NO_BODY else received)
        if request_name is not None:
            values[request_name] = request
        return await call(**values)

    return handle


def _plain_query_model(field: ModelField) -> tuple[str, ...] | None:
    """The field names of a query parameter model (``Annotated[Model, Query()]``) that
    FastAPI reads one key per field (no aliases, no lists, extra keys ignored), or None.
    For such a model FastAPI's ``request_params_to_args`` comes down to: each field's
    last value in the query string, if given, validated as the model at ``("query",)``;
    it takes some 50 µs to find that out on every request."""
    info, model = field.field_info, field.field_info.annotation
    if not (isinstance(info, params.Query) and isinstance(model, type)
            and issubclass(model, BaseModel)):
        return None
    config = model.model_config
    if (config.get("extra") in ("allow", "forbid") or config.get("validate_by_name")
            or config.get("populate_by_name") or config.get("validate_by_alias") is False):
        return None
    for spec in model.model_fields.values():
        if (spec.alias is not None or spec.validation_alias is not None
                or field_annotation_is_sequence(spec.annotation)):
            return None
    return tuple(model.model_fields)


class DirectRoute(APIRoute):
    """An operation served by :func:`direct_handler` when it has that shape, by FastAPI's
    handler otherwise. FastAPI still reads the signature for the OpenAPI document."""

    def get_route_handler(self) -> Handler:
        return self.direct_handler() or super().get_route_handler()

    def direct_handler(self) -> Handler | None:
        """The direct handler of this operation, or None when FastAPI's serves it."""
        if not returns_response(self.endpoint):
            return None
        return direct_handler(self.dependant)


def returns_response(endpoint: Callable[..., Any]) -> bool:
    returned = get_type_hints(endpoint).get("return")
    return isinstance(returned, type) and issubclass(returned, Response)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every operation, in included routers too (FastAPI keeps an included router whole,
    as its ``original_router``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


class Router(APIRouter):
    """FastAPI's ``APIRouter``, whose operations are :class:`DirectRoute` s, and which tells
    at once that a request is not for it.

    FastAPI asks each included router in turn whether a request is for one of its
    routes, and a router asks each of its routes, with some bookkeeping per route: a
    request for an operation of the last of twenty routers went through some 200 routes
    first. This router first tries its routes' path patterns alone (a compiled regular
    expression each, well under a microsecond) and says "no match" when none fits;
    otherwise FastAPI matches as it always does. A route whose pattern does not match the
    path matches neither fully nor partly, so the answer is the same, found sooner.

    The paths are the routes' own (the router's ``prefix`` included), so a router is
    included without a further prefix; behind a ``root_path`` the check is skipped.
    """

    _patterns: tuple[re.Pattern[str], ...] | None = None
    _patterns_of = -1  # the number of routes the patterns were computed for

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", DirectRoute)
        super().__init__(*args, **kwargs)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if len(self.routes) != self._patterns_of:
            found = [getattr(route, "path_regex", None) for route in self.routes]
            self._patterns = None if None in found else tuple(found)
            self._patterns_of = len(found)
        if self._patterns is not None and not scope.get("root_path"):
            path = scope["path"]
            for pattern in self._patterns:
                if pattern.match(path):
                    break
            else:
                return Match.NONE, {}
        return super().matches(scope)


class DirectDispatch:
    """The application router's entrance: a request for a direct route goes straight to it.

    FastAPI finds a request's route through its included routers: for each router and
    each of its routes, a match with bookkeeping in the scope (the route's "effective
    context" put in and taken out again). Served, that was about 75 Python calls of the
    question page's 280, more than its handler made. This finds the same route with one
    regular expression per method: the path patterns of the routes that take the method
    (or any method, as a mount does), in the order FastAPI tries them, as the alternatives
    of one pattern. Its first alternative to match is the first route that matches the
    request fully, the one FastAPI serves. When that route is a direct route, it is served
    here as FastAPI serves it (its endpoint, path parameters and route in the scope, the
    exception handlers around the handler, the route's name for telemetry). Anything else
    goes to FastAPI's router unchanged: a route of another kind first, no route taking the
    method (FastAPI answers 405 or 404), a WebSocket, a ``root_path``, or a router included
    with a prefix or dependencies, which the table does not model (nothing after it is
    served here).

    The handler is wrapped in Starlette's request wrapper (the exception handlers around
    it), not FastAPI's, which adds two exit stacks for dependencies with ``yield``: a direct
    route has none (:func:`direct_handler`).

    The tables are made at the first request, and again when the app's routes change.
    """

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.fallback: ASGIApp = router.middleware_stack
        self._made_for = -1
        # By method: the pattern (None: the table cannot tell) and, per alternative, the
        # direct route it stands for with its handler (None: FastAPI's to serve).
        self._tables: dict[str, tuple[re.Pattern[str] | None,
                                      list[tuple[APIRoute, ASGIApp] | None]]] = {}

    def _make(self) -> None:
        # (pattern, methods or None for any, the direct route and its handler, or None)
        entries: list[tuple[str, set[str] | None, tuple[APIRoute, ASGIApp] | None]] = []
        for route in _in_order(self.router.routes):
            regex = getattr(route, "path_regex", None)
            # (FastAPI's body size limit of a route, which none sets here, is FastAPI's to apply.)
            handler = (route.direct_handler() if isinstance(route, DirectRoute)
                       and route.max_body_size is None else None)
            entries.append((
                # No route (a router the table does not model) or no pattern: could be anything.
                "" if regex is None else _GROUP.sub("(?:", regex.pattern),
                getattr(route, "methods", None),
                None if handler is None else (route, request_response(handler)),  # type: ignore[arg-type]
            ))
        self._tables = {}
        for method in set().union(*(methods for _, methods, _ in entries if methods)):
            taking = [(p, served) for p, methods, served in entries
                      if methods is None or method in methods]
            pattern = re.compile("|".join(f"({p})" for p, _ in taking))
            # Each alternative one group: the number of the group that matched is the route's.
            self._tables[method] = (pattern if pattern.groups == len(taking) else None,
                                    [served for _, served in taking])
        self._made_for = len(self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            if len(self.router.routes) != self._made_for:
                self._make()
            pattern, served = self._tables.get(scope["method"], (None, []))
            found = pattern.match(scope["path"]) if pattern is not None else None
            direct = served[found.lastindex - 1] if found and found.lastindex else None
            if direct is not None:
                route, app = direct
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope.setdefault("router", self.router)
                    _route_selected(scope=scope, path=route.path_format)
                    await app(scope, receive, send)
                    return
        await self.fallback(scope, receive, send)


_GROUP = re.compile(r"\(\?P<\w+>")


def _in_order(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute | None]:
    """The routes an HTTP request is matched against, in FastAPI's order; None for an
    included router whose inclusion changes its routes' paths or dependencies."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is None:
            if not isinstance(route, WebSocketRoute):  # never an HTTP request's
                yield route
            continue
        context = getattr(route, "include_context", None)
        if getattr(context, "prefix", None) == "" and not getattr(context, "dependencies", True):
            yield from _in_order(included.routes)
        else:
            yield None
