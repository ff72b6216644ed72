"""The benchmarked requests, and the exact SQL each one issues.

For every endpoint a set of *variants* (a caller and a target: user x question,
user x post, search term...) is drawn reproducibly from the seeded database.
Each variant is sent once through the real application in-process (httpx's
ASGI transport) while a SQLAlchemy ``before_cursor_execute`` listener and the
direct transactions' observer (``focushub.core.db.observe_statements``) record
every statement and its parameters, exactly as asyncpg receives them,
including the role/claims ``set_config`` that opens each transaction. The
pgbench scripts and the bare ASGI floor replay these statements.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy import event

from focushub.app import create_app
from focushub.core.db import create_engine, observe_statements
from focushub.core.security import issue_access_token
from focushub.core.settings import Settings
from focushub.seed.words import SEARCH_TERMS

ENDPOINTS = ("question", "feed_following", "feed_trending", "search", "comment", "vote")
LABELS = {
    "question": "GET /questions/{id}",
    "feed_following": "GET /feed?scope=following",
    "feed_trending": "GET /feed?scope=trending",
    "search": "GET /search?q=… (rotating)",
    "comment": "POST /posts/{id}/comments",
    "vote": "PUT /{posts,questions}/{id}/vote",
}


@dataclass
class Variant:
    method: str
    path: str
    user_id: uuid.UUID
    email: str
    body: dict[str, Any] | None = None
    statements: list[tuple[str, list[Any]]] = field(default_factory=list)


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    """Benchmark clients without Python's cyclic garbage collector. They keep a record of
    every send and delivery (hundreds of thousands of objects in a 2,000 messages/s step),
    which each full collection walked: every client stalled up to about 100 ms at a time,
    fell that far behind its sending schedule and read its socket late, which counted as
    delivery latency (bench/school.py: sender lag p99 111–117 ms at 2,000/s with it, 3–17 ms
    without). Reference counting still frees everything that is not a cycle."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def session_for(user_id: uuid.UUID | str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, str(user_id))


def token_for(secret: str, user_id: uuid.UUID, email: str) -> str:
    token, _ = issue_access_token(
        secret=secret, issuer="focushub", ttl_seconds=6 * 3600, user_id=user_id, email=email,
        app_role="student", session_id=session_for(user_id),
    )
    return token


async def open_sessions(conn: asyncpg.Connection, user_ids: list[Any]) -> None:
    """A live session for each user a token is minted for (as the schema owner).

    Every request checks that its token's session is still live (0018): a refresh-token
    family of that user, not revoked. The benchmark's tokens name :func:`session_for`,
    so that family must exist; this writes it (again, if a run revoked it).
    """
    await conn.executemany(
        """INSERT INTO focushub_auth.refresh_tokens (user_id, family_id, token_hash, expires_at)
           VALUES ($1::uuid, $2::uuid, sha256(convert_to('bench:' || $2::text, 'UTF8')),
                   now() + interval '1 day')
           ON CONFLICT (token_hash) DO UPDATE SET revoked_at = NULL, expires_at = EXCLUDED.expires_at""",
        [(str(u), str(session_for(u))) for u in dict.fromkeys(user_ids)],
    )


async def build_variants(owner_url: str, n: int = 48) -> dict[str, list[Variant]]:
    """Draw ``n`` variants per endpoint (``n`` // 2 pairs x 2 vote types for votes)."""
    conn = await asyncpg.connect(owner_url)
    try:
        users = await conn.fetch(
            "SELECT id, email FROM users WHERE is_active ORDER BY md5(id::text) LIMIT $1", n
        )
        followers = await conn.fetch(
            """SELECT u.id, u.email FROM users u
               JOIN (SELECT follower_id FROM followers GROUP BY 1 HAVING count(*) >= 5) f
                 ON f.follower_id = u.id
               WHERE u.is_active ORDER BY md5(u.id::text) LIMIT $1""", n)
        questions = await conn.fetch("SELECT id FROM questions ORDER BY md5(id::text) LIMIT $1", n)
        posts = await conn.fetch(
            "SELECT id, author_id FROM posts WHERE is_published ORDER BY md5(id::text) LIMIT $1",
            2 * n)
        vq = await conn.fetch(
            "SELECT id, author_id FROM questions ORDER BY md5(id::text || 'v') LIMIT $1", n)
        await open_sessions(conn, [r["id"] for r in (*users, *followers)])
    finally:
        await conn.close()
    out: dict[str, list[Variant]] = {name: [] for name in ENDPOINTS}
    for i in range(n):
        u = users[i % len(users)]
        f = followers[i % len(followers)]
        out["question"].append(Variant("GET", f"/api/v1/questions/{questions[i % len(questions)]['id']}",
                                       u["id"], u["email"]))
        out["feed_following"].append(Variant("GET", "/api/v1/feed?scope=following", f["id"], f["email"]))
        out["feed_trending"].append(Variant("GET", "/api/v1/feed?scope=trending", u["id"], u["email"]))
        term = SEARCH_TERMS[i % len(SEARCH_TERMS)]
        out["search"].append(Variant("GET", "/api/v1/search?q=" + term.replace(" ", "+"),
                                     u["id"], u["email"]))
        p = posts[i]
        out["comment"].append(Variant("POST", f"/api/v1/posts/{p['id']}/comments", u["id"], u["email"],
                                      {"content": f"Benchmark comment {i}: thanks, this helped."}))
    half = n // 2
    for i in range(half // 2):
        for kind, rows in (("posts", posts[n:]), ("questions", vq)):
            target = rows[i]
            voter = next(x for x in users[i:] + users if x["id"] != target["author_id"])
            # Posts are liked (upvotes only); questions are voted up and down.
            for vote_type in ("upvote",) if kind == "posts" else ("upvote", "downvote"):
                out["vote"].append(Variant("PUT", f"/api/v1/{kind}/{target['id']}/vote", voter["id"],
                                           voter["email"], {"vote_type": vote_type}))
    return out


async def capture(app_url: str, secret: str, variants: dict[str, list[Variant]]) -> None:
    """Send each variant once through the app and record its statements (in place)."""
    settings = Settings(env="development", database_url=app_url, jwt_secret=secret,
                        log_level="WARNING", write_limits_enabled=False)
    engine = create_engine(app_url, pool_size=1, max_overflow=0)
    recorded: list[tuple[str, list[Any]]] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        recorded.append((statement, list(parameters or ())))

    def direct(statement: str, args: list[Any]) -> None:
        recorded.append((statement, list(args)))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    app = create_app(settings, engine=engine)
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            with observe_statements(direct):
                for name, items in variants.items():
                    for v in items:
                        recorded.clear()
                        headers = {"Authorization": f"Bearer {token_for(secret, v.user_id, v.email)}"}
                        r = await http.request(v.method, v.path, json=v.body, headers=headers)
                        if r.status_code >= 400:
                            raise RuntimeError(
                                f"{name} {v.method} {v.path}: {r.status_code} {r.text[:300]}")
                        v.statements = list(recorded)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        await engine.dispose()


# ---------------------------------------------------------------- serialising
def encode_param(value: Any) -> Any:
    """A JSON-safe, typed form of a parameter (the floor app turns it back)."""
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, (list, tuple)):
        return {"list": [encode_param(x) for x in value]}
    if isinstance(value, dict):
        return {"json": orjson.dumps(value).decode()}
    return value


def decode_param(value: Any) -> Any:
    if isinstance(value, dict):
        ((kind, raw),) = value.items()
        if kind == "uuid":
            return uuid.UUID(raw)
        if kind == "datetime":
            return datetime.fromisoformat(raw)
        if kind == "date":
            return date.fromisoformat(raw)
        if kind == "decimal":
            return Decimal(raw)
        if kind == "list":
            return [decode_param(x) for x in raw]
        if kind == "json":
            return raw
    return value


def to_json(variants: dict[str, list[Variant]]) -> dict[str, Any]:
    return {
        name: [
            {"method": v.method, "path": v.path, "user_id": str(v.user_id), "email": v.email,
             "body": v.body,
             "statements": [[sql, [encode_param(p) for p in params]] for sql, params in v.statements]}
            for v in items
        ]
        for name, items in variants.items()
    }
