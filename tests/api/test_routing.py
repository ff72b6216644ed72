"""Routers decline a request that is not theirs at once (``focushub.core.routing.Router``),
a request for a direct route goes straight to it (``DirectDispatch``), and the app still
answers every request exactly as FastAPI's own matching does."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from focushub.core.routing import DirectDispatch, DirectRoute, Router, api_routes


def _concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, _, kind = match.group(1).partition(":")
        if kind == "path":
            return "a/b.txt"
        return str(uuid.uuid4()) if name.endswith("id") else "someone"

    return re.sub(r"\{([^}]+)\}", value, path)


async def test_every_operation_answers_as_with_fastapis_own_matching(client, monkeypatch):
    app = client._transport.app
    probes = [(method, _concrete(route.path_format))
              for route in api_routes(app.routes) for method in sorted(route.methods - {"HEAD"})]
    assert len(probes) > 150
    # And requests no route takes: an unknown path, a known path with another method, a
    # path whose beginning is some router's but whose rest is no route's.
    probes += [("GET", "/api/v1/nowhere"), ("DELETE", "/api/v1/feed"),
               ("GET", "/api/v1/questions/x/y/z"), ("POST", "/healthz"), ("GET", "/nowhere")]

    async def statuses() -> list[tuple[int, str | None]]:
        """Each probe's status, and its error's code when it is one in the error shape."""
        out = []
        for method, path in probes:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            r = await client.request(method, path, json=body)
            json_error = r.headers.get("content-type") == "application/json" and r.status_code >= 400
            out.append((r.status_code, r.json()["error"]["code"] if json_error else None))
        return out

    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, DirectDispatch)
    fastapis = dispatch.fallback
    reached: set[tuple[str, str]] = set()

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        reached.add((scope["method"], scope["path"]))
        await fastapis(scope, receive, send)

    monkeypatch.setattr(dispatch, "fallback", recording)
    quick = await statuses()
    # Every direct operation was served at once; FastAPI's router saw only the others.
    direct = {(method, _concrete(route.path_format)) for route in api_routes(app.routes)
              if isinstance(route, DirectRoute) and route.direct_handler() is not None
              for method in route.methods - {"HEAD"}}
    assert len(direct) > 30
    assert direct.isdisjoint(reached)
    assert len(reached) > 50

    monkeypatch.setattr(Router, "matches", APIRouter.matches)
    monkeypatch.setattr(app.router, "middleware_stack", fastapis)
    plain = await statuses()
    assert quick == plain
    assert [status for status, _ in quick[-5:]] == [404, 405, 404, 405, 404]
    assert sum(s != 404 for s, _ in quick) > 100  # most operations were reached, not missed


def test_a_router_declines_only_paths_none_of_its_routes_matches(monkeypatch):
    router = Router(prefix="/api/v1/things")

    @router.get("/{thing_id}/parts")
    async def parts(thing_id: str) -> None: ...

    @router.get("")
    async def things() -> None: ...

    asked: list[str] = []

    def fastapi_matching(self, scope):  # type: ignore[no-untyped-def]
        asked.append(scope["path"])
        return Match.NONE, {}

    monkeypatch.setattr(APIRouter, "matches", fastapi_matching)

    def match(path: str, root_path: str = "") -> str:
        return router.matches({"type": "http", "path": path, "root_path": root_path,
                               "method": "GET"})[0].name

    for path in ("/api/v1/other", "/api/v2/things", "/api/v1/things/7", "/api/v1/things/7/parts/x",
                 "/api/v1/things/"):
        assert match(path) == "NONE"
    assert asked == []  # declined without asking FastAPI
    # A path one of the routes' patterns matches (whatever the method) goes on to FastAPI.
    match("/api/v1/things/7/parts")
    match("/api/v1/things")
    assert asked == ["/api/v1/things/7/parts", "/api/v1/things"]

    @router.get("/x/{rest:path}")
    async def late(rest: str) -> None: ...

    match("/api/v1/things/x/a/b")  # routes added later are taken into account
    # Behind a root_path the path carries the prefix; the check steps aside.
    match("/proxy/api/v1/other", root_path="/proxy")
    assert asked[2:] == ["/api/v1/things/x/a/b", "/proxy/api/v1/other"]


def _app_with_dispatch(*routers: APIRouter, **include: Any) -> tuple[FastAPI, list[str]]:
    """An app whose router is entered through :class:`DirectDispatch`; the list records the
    requests that went on to FastAPI's own router."""
    app = FastAPI()
    for router in routers:
        app.include_router(router, **include.get(router.prefix, {}))
    dispatch = DirectDispatch(app.router)
    fastapis = dispatch.fallback
    reached: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            reached.append(f"{scope['method']} {scope['path']}")
        await fastapis(scope, receive, send)

    dispatch.fallback = recording
    app.router.middleware_stack = dispatch
    return app, reached


async def test_a_direct_route_is_served_at_once_and_everything_else_by_fastapi():
    early = APIRouter(prefix="/things")

    @early.get("/special")
    async def special() -> dict[str, str]:  # FastAPI's handler (returns no Response)
        return {"by": "special"}

    direct = Router(prefix="/things")

    @direct.get("/{name}")
    async def named(name: str, request: Request, n: int = 1) -> JSONResponse:
        return JSONResponse({"by": "named", "name": name, "n": n,
                             "route": request.scope["route"].path, "endpoint":
                             request.scope["endpoint"].__name__})

    @direct.put("/{name}/parts")
    async def parts(name: str) -> JSONResponse:
        return JSONResponse({"by": "parts"})

    @direct.delete("/{name}")  # the same path as ``named``, another method
    async def remove(name: str) -> JSONResponse:
        return JSONResponse({"by": "remove"})

    app, reached = _app_with_dispatch(early, direct)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.get("/things/chair", params={"n": "3"})
        assert r.json() == {"by": "named", "name": "chair", "n": 3, "route": "/things/{name}",
                            "endpoint": "named"}
        assert (await http.put("/things/chair/parts")).json() == {"by": "parts"}
        assert (await http.delete("/things/chair")).json() == {"by": "remove"}
        assert reached == []  # none went through FastAPI's router
        # Validation errors are FastAPI's, from the same handler.
        bad = await http.get("/things/chair", params={"n": "many"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "n"]
        assert reached == []
        # An earlier route of another kind wins, as in FastAPI: it is FastAPI's to serve.
        assert (await http.get("/things/special")).json() == {"by": "special"}
        # A method the first matching route does not take, a path no route takes: FastAPI
        # answers (405 with Allow, 404).
        wrong = await http.post("/things/chair")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"  # the first route's
        assert (await http.get("/nowhere")).status_code == 404
        assert reached == ["GET /things/special", "POST /things/chair", "GET /nowhere"]

        # Routes added after the first request are taken into account: a direct one declared
        # on the app (after the routers) is served at once, and shadows no earlier one.
        async def late(x: str) -> JSONResponse:
            return JSONResponse({"by": "late"})

        app.router.add_api_route("/late/{x}", late, route_class_override=DirectRoute)
        app.router.add_api_route("/things/{x}", late, route_class_override=DirectRoute)
        assert (await http.get("/late/1")).json() == {"by": "late"}
        assert (await http.get("/things/late")).json()["by"] == "named"
        assert reached == ["GET /things/special", "POST /things/chair", "GET /nowhere"]


async def test_what_the_table_does_not_model_goes_to_fastapi():
    # FastAPI's router with direct routes (``Router`` itself is never included with a prefix).
    prefixed = APIRouter(prefix="/a", route_class=DirectRoute)

    @prefixed.get("/{x}")
    async def under_prefix(x: str) -> JSONResponse:
        return JSONResponse({"by": "prefixed"})

    after = Router(prefix="/b")

    @after.get("/{x}")
    async def after_it(x: str) -> JSONResponse:
        return JSONResponse({"by": "after"})

    # Included under a further prefix: the route's own path is not the one it serves.
    app, reached = _app_with_dispatch(prefixed, after, **{"/a": {"prefix": "/v2"}})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/v2/a/1")).json() == {"by": "prefixed"}
        assert (await http.get("/a/1")).status_code == 404
        # Nothing after such a router is served at once: it could match anything.
        assert (await http.get("/b/1")).json() == {"by": "after"}
        assert reached == ["GET /v2/a/1", "GET /a/1", "GET /b/1"]

    app, reached = _app_with_dispatch(after)
    transport = httpx.ASGITransport(app=app, root_path="/proxy")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/proxy/b/1")).json() == {"by": "after"}
        assert reached == ["GET /proxy/b/1"]  # behind a root_path, FastAPI's matching
