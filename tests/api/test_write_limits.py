"""Write limits by account standing (focushub/safety/limits.py), as a spammer meets them:
a new account is held to the new rates, an established one to looser ones, an admin to none.
Rates are the defaults' counts with a window so long that nothing refills during the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from focushub.app import create_app
from focushub.core.ratelimit import Rate
from focushub.safety.limits import _per, _wait
from tests.api.conftest import admin_of, make_user
from tests.api.factories_content import make_post

NO_REFILL = 10**7


@pytest.fixture
async def limited(settings, engine) -> AsyncIterator[httpx.AsyncClient]:
    rates = {name: Rate(getattr(settings, name).limit, NO_REFILL)
             for name in type(settings).model_fields if name.startswith("write_rate_")}
    app = create_app(settings.model_copy(update={"write_limits_enabled": True, **rates}),
                     engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.50", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_established(client, owner_conn) -> dict:
    user = await make_user(client)
    await owner_conn.execute(
        "UPDATE users SET created_at = now() - interval '30 days', is_verified = true"
        " WHERE id = $1::uuid", user["user"]["id"])
    return user


async def test_a_new_account_posts_less_than_an_established_one(limited, owner_conn):
    spammer = await make_user(limited)
    statuses = []
    for n in range(7):
        r = await limited.post("/api/v1/posts", headers=spammer["headers"],
                               json={"title": f"Buy now {n}", "content": "cheap essays"})
        statuses.append(r.status_code)
    assert statuses == [201] * 5 + [429] * 2
    error = r.json()["error"]
    assert error["code"] == "write_rate_limited" and error["details"]["standing"] == "new"
    assert error["message"].startswith("New accounts may send 5 posts per ")
    assert "; try again in " in error["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert await owner_conn.fetchval("SELECT count(*) FROM posts") == 5  # nothing half-written

    regular = await make_established(limited, owner_conn)
    for n in range(7):
        await make_post(limited, regular, title=f"Notes {n}")
    admin = await admin_of(limited, owner_conn)
    for n in range(40):
        await make_post(limited, admin, title=f"Announcement {n}")


async def test_a_stranger_cannot_be_flooded_with_messages_or_comments(limited, owner_conn):
    spammer, victim = await make_user(limited), await make_user(limited)
    r = await limited.post("/api/v1/chat/rooms", headers=spammer["headers"],
                           json={"user_id": victim["user"]["id"]})
    room = r.json()["id"]
    statuses = [
        (await limited.post(f"/api/v1/chat/rooms/{room}/messages", headers=spammer["headers"],
                            json={"content": f"hey {n}"})).status_code
        for n in range(25)
    ]
    assert statuses == [201] * 20 + [429] * 5
    post = await make_post(limited, await make_established(limited, owner_conn))
    statuses = [
        (await limited.post(f"/api/v1/posts/{post['id']}/comments", headers=spammer["headers"],
                            json={"content": f"visit my site {n}"})).status_code
        for n in range(22)
    ]
    assert statuses == [201] * 20 + [429] * 2
    # Another account's allowance is its own.
    other = await make_user(limited)
    r = await limited.post(f"/api/v1/posts/{post['id']}/comments", headers=other["headers"],
                           json={"content": "Great notes"})
    assert r.status_code == 201


def test_the_refusal_reads_as_a_sentence():
    assert [_per(Rate(5, 3600)), _per(Rate(20, 60)), _per(Rate(3, 6 * 3600)),
            _per(Rate(2, 30))] == [" an hour", " a minute", " per 6 hours", " per 30 seconds"]
    assert (_wait(4_200), _wait(600_000)) == ("5 seconds", "10 minutes")


async def test_following_and_rooms_are_limited_too(limited, owner_conn):
    spammer = await make_user(limited)
    strangers = [await make_user(limited) for _ in range(21)]
    statuses = [(await limited.put(f"/api/v1/users/{s['user']['id']}/follow",
                                   headers=spammer["headers"])).status_code for s in strangers]
    assert statuses == [200] * 20 + [429]
    statuses = [(await limited.post("/api/v1/chat/rooms", headers=spammer["headers"],
                                    json={"name": f"Free stuff {n}"})).status_code
                for n in range(4)]
    assert statuses == [201] * 3 + [429]
