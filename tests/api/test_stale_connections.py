"""Connections that lost their server while idle in a pool (the database restarted, an
administrator or a pooler ended them) cost no request anything: the first statement of a
transaction meets the lost connection before anything was done, so it is tried again on
a fresh one instead of answering 503."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from focushub.app import create_app
from focushub.core.db import create_engine
from focushub.core.settings import Settings
from tests.api.conftest import make_user
from tests.api.factories_content import make_post


@pytest.fixture
async def own_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on an engine of its own: its connections are the only ones ended here."""
    engine = create_engine(settings.database_url or "", pool_size=3, max_overflow=0)
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await engine.dispose()


async def _end_connections_opened_since(owner_conn: asyncpg.Connection, since) -> int:
    """End (as ``pg_terminate_backend`` does on a restart or by an administrator) the app's
    connections to this database opened after ``since``; how many."""
    ended = await owner_conn.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'focushub'"
        " AND backend_start >= $1 AND pid <> pg_backend_pid()", since)
    return sum(1 for row in ended if row[0])


async def _server_now(owner_conn: asyncpg.Connection):
    return await owner_conn.fetchval("SELECT clock_timestamp()")


async def test_requests_after_the_pools_connections_were_ended_succeed(
        own_client: httpx.AsyncClient, owner_conn: asyncpg.Connection) -> None:
    since = await _server_now(owner_conn)
    author = await make_user(own_client)
    post = await make_post(own_client, author)
    # Both pools hold idle connections now: the engine's (sign-up, the post) and the
    # direct path's (the question page and comment below are direct routes).
    r = await own_client.post(f"/api/v1/posts/{post['id']}/comments", headers=author["headers"],
                              json={"content": "before"})
    assert r.status_code == 201, r.text
    assert await _end_connections_opened_since(owner_conn, since) >= 2

    # A direct route (the comment, a hot path) and an engine route (the profile) each
    # answer from a fresh connection, not 503.
    r = await own_client.post(f"/api/v1/posts/{post['id']}/comments", headers=author["headers"],
                              json={"content": "after"})
    assert r.status_code == 201, r.text
    r = await own_client.get("/api/v1/users/me", headers=author["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == author["user"]["id"]

    # And once more, with every connection ended again after both paths were used.
    assert await _end_connections_opened_since(owner_conn, since) >= 2
    r = await own_client.get("/api/v1/users/me", headers=author["headers"])
    assert r.status_code == 200, r.text
    r = await own_client.get(f"/api/v1/posts/{post['id']}/comments")
    assert r.status_code == 200, r.text
    assert [c["content"] for c in r.json()["items"]] == ["before", "after"]
