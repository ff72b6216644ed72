"""Routers decline a request that is not theirs at once (``focushub.core.routing.Router``),
and the app still answers every request exactly as FastAPI's own matching does."""

from __future__ import annotations

import re
import uuid

from fastapi import APIRouter
from starlette.routing import Match

from focushub.core.routing import Router, api_routes


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

    async def statuses() -> list[int]:
        out = []
        for method, path in probes:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            out.append((await client.request(method, path, json=body)).status_code)
        return out

    quick = await statuses()
    monkeypatch.setattr(Router, "matches", APIRouter.matches)
    plain = await statuses()
    assert quick == plain
    assert quick[-5:] == [404, 405, 404, 405, 404]
    assert sum(s != 404 for s in quick) > 100  # most operations were reached, not missed


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
