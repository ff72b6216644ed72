"""Direct routes (``focushub.core.routing.direct_handler``) answer as FastAPI's own request
handler does: the same statuses and the same bodies, errors included, in the same order
of checks."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import BackgroundTasks, Header

from focushub.app import create_app
from focushub.core import routing
from focushub.core.jsonsql import JSONBytes
from focushub.core.routing import api_routes
from tests.api.conftest import make_user
from tests.api.factories_content import make_comment, make_post


@contextlib.asynccontextmanager
async def _fastapis(settings, engine, monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
    """The app with every operation on FastAPI's handler. Handlers are built lazily (on
    the first request each route meets), so the patch holds while requests are made, and
    the app under test must have met its routes before it."""
    consulted: list[object] = []

    def never(dependant):  # type: ignore[no-untyped-def]
        consulted.append(dependant)

    monkeypatch.setattr(routing, "direct_handler", never)
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    assert consulted, "no handler was built under the patch: the comparison compared nothing"


def _seen(response: httpx.Response) -> tuple[int, Any]:
    """Status and body, without what differs between any two requests."""
    if not response.content:
        return response.status_code, None
    body = response.json()
    if "error" in body:
        body["error"].pop("request_id")
        return response.status_code, body
    if response.status_code < 300:  # a success: compare its shape (ids and times differ)
        return response.status_code, sorted(body)
    return response.status_code, body


def test_the_hot_operations_are_direct_and_others_are_fastapis(client):
    app = client._transport.app
    direct = {(method, route.path_format) for route in api_routes(app.routes)
              for method in route.methods
              if routing.returns_response(route.endpoint)
              and routing.direct_handler(route.dependant) is not None}
    hot = {("GET", "/api/v1/questions/{question_id}"), ("GET", "/api/v1/feed"),
           ("GET", "/api/v1/search"), ("POST", "/api/v1/posts/{post_id}/comments"),
           ("PUT", "/api/v1/posts/{votable_id}/vote"), ("PUT", "/api/v1/answers/{votable_id}/vote")}
    assert hot <= direct
    # Every route answering pre-encoded JSON is direct: one that is not (a new kind of
    # parameter, say) would lose the hot path's speed without a word.
    for route in api_routes(app.routes):
        if routing.returns_response(route.endpoint) and route.response_model is not None:
            assert isinstance(route, routing.DirectRoute)
            assert routing.direct_handler(route.dependant) is not None, route.path_format
    # Operations returning models keep FastAPI's handler (it validates what they return).
    signup = next(r for r in api_routes(app.routes) if r.path_format == "/api/v1/auth/signup")
    assert not routing.returns_response(signup.endpoint)


async def test_direct_routes_answer_as_fastapis_handler(client, settings, engine, monkeypatch):
    author, voter = await make_user(client), await make_user(client)
    post = await make_post(client, author)
    comment = await make_comment(client, author, post["id"])
    pid, cid = post["id"], comment["id"]
    signed, nobody = voter["headers"], {}
    bad_token = {"Authorization": "Bearer not.a.token"}
    json_headers = {**signed, "content-type": "application/json"}
    requests: list[tuple[str, str, dict[str, str], Any]] = [
        # reads: fine, a bad path parameter, bad query parameters, anonymous, a bad token
        ("GET", f"/api/v1/questions/{uuid.uuid4()}", signed, None),
        ("GET", "/api/v1/questions/not-a-uuid", signed, None),
        ("GET", "/api/v1/questions/not-a-uuid", bad_token, None),
        ("GET", "/api/v1/feed?scope=trending", nobody, None),
        ("GET", "/api/v1/feed?scope=following", signed, None),
        ("GET", "/api/v1/feed?scope=sideways&limit=0", signed, None),
        ("GET", "/api/v1/feed?limit=abc&cursor=%%%", signed, None),
        ("GET", "/api/v1/search?q=photosynthesis", nobody, None),
        ("GET", "/api/v1/search", nobody, None),
        ("GET", "/api/v1/search?q=x&limit=1000&kind=nothing", signed, None),
        # query models: a key given twice (the last counts), an empty value, unknown keys,
        # a key spelt in another case, a key with no value, several errors at once
        ("GET", "/api/v1/feed?scope=sideways&scope=latest&limit=3", signed, None),
        ("GET", "/api/v1/feed?limit=", signed, None),
        ("GET", "/api/v1/feed?unknown=1&Scope=trending&limit", nobody, None),
        ("GET", "/api/v1/search?q=&type=user&category=x&tag=" + "t" * 40, nobody, None),
        ("GET", "/api/v1/search?q=%00&limit=-1&cursor=zz", nobody, None),
        ("GET", "/api/v1/search?q=a&q=photosynthesis&type=user&category=biology", nobody, None),
        # writes: fine (twice: idempotent), anonymous, a bad token, bad path, no body, a body
        # that is not JSON (checked before the caller, as FastAPI does), fields of the wrong
        # type, unknown values, and everything wrong at once
        ("PUT", f"/api/v1/posts/{pid}/vote", signed, {"vote_type": "upvote"}),
        ("PUT", f"/api/v1/posts/{pid}/vote", signed, {"vote_type": "upvote"}),
        ("PUT", f"/api/v1/posts/{pid}/vote", nobody, {"vote_type": "upvote"}),
        ("PUT", f"/api/v1/posts/{pid}/vote", bad_token, {"vote_type": "upvote"}),
        ("PUT", f"/api/v1/posts/{pid}/vote", signed, {"vote_type": "downvote"}),
        ("PUT", "/api/v1/posts/123/vote", signed, {"vote_type": "upvote"}),
        ("PUT", f"/api/v1/comments/{cid}/vote", signed, None),
        ("PUT", f"/api/v1/comments/{cid}/vote", json_headers, b'{"vote_type": '),
        ("PUT", f"/api/v1/comments/{cid}/vote", {"content-type": "application/json"}, b"[1,"),
        ("PUT", f"/api/v1/comments/{cid}/vote", json_headers, b"null"),
        ("PUT", f"/api/v1/comments/{cid}/vote", json_headers, b'{"vote_type": "\xc2"}'),
        ("PUT", f"/api/v1/comments/{cid}/vote", signed, {"vote_type": 3}),
        ("PUT", f"/api/v1/comments/{cid}/vote", signed, ["upvote"]),
        ("PUT", f"/api/v1/questions/{uuid.uuid4()}/vote", signed, {"vote_type": "sideways"}),
        ("PUT", "/api/v1/answers/x/vote", signed, {"vote_type": "sideways", "extra": 1}),
        ("PUT", "/api/v1/answers/x/vote", nobody, {}),
        ("DELETE", f"/api/v1/posts/{pid}/vote", signed, None),
        ("DELETE", f"/api/v1/posts/{pid}/vote", signed, None),
        ("POST", f"/api/v1/posts/{pid}/comments", signed, {"content": "Agreed, and here is why."}),
        ("POST", f"/api/v1/posts/{pid}/comments", signed,
         {"content": "A reply.", "parent_id": cid}),
        ("POST", f"/api/v1/posts/{pid}/comments", signed, {"content": ""}),
        ("POST", f"/api/v1/posts/{pid}/comments", signed, {"content": "x" * 20000}),
        ("POST", f"/api/v1/posts/{pid}/comments", signed, {"content": "hi", "parent_id": "no"}),
        ("POST", f"/api/v1/posts/{uuid.uuid4()}/comments", signed, {"content": "Anyone?"}),
        ("POST", "/api/v1/posts/nope/comments", nobody, {"content": 5}),
        ("DELETE", f"/api/v1/comments/{uuid.uuid4()}", signed, None),
    ]
    def sent(body: Any) -> dict[str, Any]:
        return ({"content": body} if isinstance(body, bytes)
                else {"json": body} if body is not None else {})

    # All through the app under test first, then the same sequence through FastAPI's
    # handlers (it leaves the votes as it found them, so each request meets the same state).
    ours = [_seen(await client.request(m, p, headers=h, **sent(b))) for m, p, h, b in requests]
    async with _fastapis(settings, engine, monkeypatch) as plain:
        theirs = [_seen(await plain.request(m, p, headers=h, **sent(b)))
                  for m, p, h, b in requests]
    for request, mine, fastapis in zip(requests, ours, theirs, strict=True):
        assert mine == fastapis, request
    statuses = {status for status, _ in ours}
    # The variants reached every kind of answer.
    assert statuses >= {200, 201, 400, 401, 404, 422}


def test_a_direct_handler_is_only_made_for_the_shape_it_serves():
    router = routing.Router(prefix="/api/v1/things")

    @router.get("/{thing_id}")
    async def plain(thing_id: uuid.UUID) -> JSONBytes:
        return JSONBytes(b"{}")

    @router.get("/{thing_id}/model")
    async def model(thing_id: uuid.UUID) -> dict[str, str]:
        return {}

    @router.get("/{thing_id}/header")
    async def header(thing_id: uuid.UUID, x_thing: str = Header()) -> JSONBytes:
        return JSONBytes(b"{}")

    @router.post("/{thing_id}/later")
    async def later(thing_id: uuid.UUID, tasks: BackgroundTasks) -> JSONBytes:
        return JSONBytes(b"{}")

    @router.get("/{thing_id}/sync")
    def sync(thing_id: uuid.UUID) -> JSONBytes:
        return JSONBytes(b"{}")

    made = {route.name: routing.returns_response(route.endpoint)
            and routing.direct_handler(route.dependant) is not None
            for route in router.routes}
    assert made == {"plain": True, "model": False, "header": False, "later": False,
                    "sync": False}
