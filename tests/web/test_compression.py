"""gzip and static caching: pages and JSON above 1 KiB are compressed; event streams and
downloads never are; static files are cached for long only under their versioned URL."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.responses import StreamingResponse

from focushub.app import create_app
from focushub.core.settings import Settings
from focushub.web import assets
from tests.api.conftest import JWT_SECRET
from tests.web.test_pages import csrf, sign_up

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
async def client(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path)
    app = create_app(settings)

    # An event stream behind the same middleware: three events, each sent on its own.
    async def events() -> AsyncIterator[bytes]:
        for n in range(3):
            yield f"data: {'x' * 2000} {n}\n\n".encode()
            await asyncio.sleep(0)

    app.add_api_route("/stream-probe", lambda: StreamingResponse(
        events(), media_type="text/event-stream"))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.runtime.stop()


async def raw(client: httpx.AsyncClient, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (httpx would otherwise decode gzip)."""
    async with client.stream("GET", path, headers=headers) as r:
        body = b"".join([chunk async for chunk in r.aiter_raw()])
    return r, body


async def test_pages_and_json_above_the_minimum_are_gzipped(client):
    r, body = await raw(client, "/signup", **GZIP)
    assert r.headers["content-encoding"] == "gzip" and "accept-encoding" in r.headers["vary"].lower()
    page = gzip.decompress(body)
    assert b"<h1>" in page and len(body) < len(page) and int(r.headers["content-length"]) == len(body)
    r, body = await raw(client, "/openapi.json", **GZIP)
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(body).startswith(b"{")
    # Without Accept-Encoding, or under 1 KiB, the body goes as it is.
    r, body = await raw(client, "/signup", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and b"<h1>" in body
    r, body = await raw(client, "/healthz", **GZIP)
    assert len(body) < 1024 and "content-encoding" not in r.headers
    r, body = await raw(client, f"/static/app.css?v={assets.digest('app.css')}", **GZIP)
    assert r.headers["content-encoding"] == "gzip"


async def test_event_streams_and_downloads_are_never_compressed(client, tmp_path):
    r, body = await raw(client, "/stream-probe", **GZIP)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in r.headers and body.count(b"data: ") == 3

    # A stored file (text, so compressible by type) and the account export.
    await sign_up(client, "vera")
    page = await client.get("/resources/new")
    r = await client.post("/resources/new", data={"csrf_token": csrf(page.text),
                                                  "title": "Plain notes", "is_public": "true"},
                          files={"file": ("notes.txt", b"loop " * 2000, "text/plain")})
    assert r.status_code == 303
    resource = await client.get(r.headers["location"])
    url = re.search(r'<a class="button" href="([^"]+)" download', resource.text).group(1)
    r, body = await raw(client, url.replace("&amp;", "&"), **GZIP)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "content-encoding" not in r.headers and body == b"loop " * 2000
    r, body = await raw(client, "/settings/account/export", **GZIP)
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert body.startswith(b"PK")


async def test_static_files_are_cached_long_only_under_their_version(client):
    home = await client.get("/")
    for name in ("app.css", "app.js", "vendor/htmx-2.0.11.min.js"):
        versioned = f"/static/{name}?v={assets.digest(name)}"
        assert versioned in home.text
        r = await client.get(versioned)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        for stale in (f"/static/{name}", f"/static/{name}?v=000000000000"):
            r = await client.get(stale)
            assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=300"
    assert (await client.get("/static/nothing.css?v=1")).status_code == 404
