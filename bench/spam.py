"""What one new account can push at strangers: the spammer's run, with the default limits.

    .venv/bin/python bench/spam.py [--server-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throwaway database on the server (dropped at the end), migrates it and drives
the real app in process (httpx over ASGI, default settings: write limits on, PostgreSQL
limiter) as a spammer who signed up a minute ago: 150 posts, 100 comments on a
stranger's post, 300 direct messages to a stranger, 30 follows, one post mentioning 30
people, one group chat with 10 strangers. For each it prints what was accepted, what was
refused (429) and how long the run took. Every sign-up comes from its own address, so the
sign-up limit is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx

from focushub.app import create_app
from focushub.core import bootstrap
from focushub.core.settings import Settings
from focushub.migrations import runner

SECRET = "spam-bench-" + "x" * 40


async def signup(app: Any, n: int) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app, client=(f"198.18.{n // 250}.{n % 250 + 1}", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
        r = await c.post("/api/v1/auth/signup", json={
            "email": f"person{n}@example.org", "password": "correct horse battery",
            "full_name": f"Person {n}", "username": f"person_{n}"})
        r.raise_for_status()
        session = r.json()
    session["headers"] = {"Authorization": f"Bearer {session['access_token']}"}
    return session


async def burst(client: httpx.AsyncClient, calls: list[tuple[str, str, Any]],
                headers: dict[str, str]) -> tuple[int, int, float]:
    accepted = refused = 0
    started = time.perf_counter()
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=headers)
        if r.status_code == 429:
            refused += 1
        elif r.status_code < 300:
            accepted += 1
        else:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:200]}")
    return accepted, refused, time.perf_counter() - started


async def main(server_url: str) -> None:
    name = f"focushub_spam_{uuid.uuid4().hex[:8]}"
    await bootstrap.ensure_database(server_url, name)
    owner_url = bootstrap.with_parts(server_url, database=name)
    try:
        runner.upgrade(owner_url)
        await bootstrap.ensure_login_role(owner_url)
        settings = Settings(env="test", database_url=bootstrap.with_parts(
            owner_url, user=bootstrap.APP_LOGIN_ROLE), jwt_secret=SECRET, log_level="WARNING",
            write_limits_enabled=True)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            spammer, victim = await signup(app, 0), await signup(app, 1)
            strangers = [await signup(app, 2 + n) for n in range(30)]
            transport = httpx.ASGITransport(app=app, client=("198.18.100.1", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                h = spammer["headers"]
                r = await c.post("/api/v1/posts", headers=victim["headers"],
                                 json={"title": "My notes", "content": "What I learned"})
                victim_post = r.json()["id"]
                r = await c.post("/api/v1/chat/rooms", headers=h,
                                 json={"user_id": victim["user"]["id"]})
                dm = r.json()["id"] if r.status_code == 201 else None
                rows = [
                    ("150 posts", await burst(c, [("POST", "/api/v1/posts",
                        {"title": f"Cheap essays {i}", "content": "buy now"}) for i in range(150)], h)),
                    ("100 comments on a stranger's post", await burst(c, [(
                        "POST", f"/api/v1/posts/{victim_post}/comments",
                        {"content": f"visit my site {i}"}) for i in range(100)], h)),
                    ("300 direct messages to a stranger", await burst(c, [(
                        "POST", f"/api/v1/chat/rooms/{dm}/messages", {"content": f"hey {i}"})
                        for i in range(300)], h)),
                    ("30 follows of strangers", await burst(c, [(
                        "PUT", f"/api/v1/users/{s['user']['id']}/follow", None)
                        for s in strangers], h)),
                ]
                mention = " ".join(f"@{s['user']['username']}" for s in strangers)
                await c.post("/api/v1/posts", headers=strangers[0]["headers"],
                             json={"title": "Mentions", "content": mention})
                await c.post("/api/v1/chat/rooms", headers=h, json={
                    "name": "Free stuff", "member_ids": [s["user"]["id"] for s in strangers[:10]]})
                conn = await asyncpg.connect(owner_url)
                try:
                    mentioned = await conn.fetchval(
                        "SELECT count(*) FROM notifications WHERE type = 'mention'")
                    # The members other than the spammer, and the invitations (0031).
                    members = await conn.fetchval(
                        "SELECT count(*) FROM chat_room_participants p JOIN chat_rooms r"
                        " ON r.id = p.room_id WHERE r.name = 'Free stuff'") - 1
                    invited = await conn.fetchval(
                        "SELECT count(*) FROM chat_invitations i JOIN chat_rooms r"
                        " ON r.id = i.room_id WHERE r.name = 'Free stuff'")
                finally:
                    await conn.close()
        print(f"{'action':40} {'accepted':>9} {'refused':>8} {'seconds':>8}")
        for label, (ok, refused, seconds) in rows:
            print(f"{label:40} {ok:9} {refused:8} {seconds:8.2f}")
        print(f"{'one post mentioning 30 people':40} {mentioned:9} {'':>8} {'':>8}  (notified)")
        print(f"{'a group chat with 10 strangers':40} {members:9} {'':>8} {'':>8}  (added;"
              f" {invited} invited)")
    finally:
        await bootstrap.drop_database(server_url, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main(parser.parse_args().server_url))
