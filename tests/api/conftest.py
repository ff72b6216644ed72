"""HTTP-level fixtures: the real app on the test database, driven through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.app import create_app
from focushub.core.db import create_engine
from focushub.core.settings import Settings
from tests.conftest import TestDatabase

JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def settings(test_db: TestDatabase) -> Settings:
    return Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(settings.database_url or "", pool_size=5, max_overflow=20)
    yield eng
    await eng.dispose()


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


_counter = 0


async def make_user(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Sign a user up through the API; returns the session plus ``headers`` and ``password``."""
    global _counter
    _counter += 1
    body = {
        "email": f"user{_counter}@example.org",
        "password": "correct horse battery",
        "full_name": f"User {_counter}",
        "username": f"user_{_counter}",
    }
    body.update(overrides)
    response = await client.post("/api/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    session = response.json()
    session["headers"] = {"Authorization": f"Bearer {session['access_token']}"}
    session["password"] = body["password"]
    return session


async def follow(client: httpx.AsyncClient, follower: dict[str, Any],
                 followed: dict[str, Any]) -> None:
    """``follower`` follows ``followed`` through the API: consent to be added to their groups
    and to get their direct chats as chats, not requests (0031)."""
    r = await client.put(f"/api/v1/users/{followed['user']['id']}/follow",
                         headers=follower["headers"])
    assert r.status_code == 200, r.text


async def admin_of(client: httpx.AsyncClient, owner_conn: Any) -> dict[str, Any]:
    """A new user made admin (by the schema owner, as `focushub create-admin` would), signed in."""
    admin = await make_user(client)
    await owner_conn.execute("UPDATE users SET role = 'admin' WHERE id = $1::uuid",
                             admin["user"]["id"])
    r = await client.post("/api/v1/auth/login", json={"email": admin["user"]["email"],
                                                      "password": admin["password"]})
    admin["headers"] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return admin


# The storage fixtures of the file tests (local disk and S3), for every module here.
from tests.api.files_support import env, s3_endpoint  # noqa: E402, F401
