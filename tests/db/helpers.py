"""Run SQL as a caller, exactly as focushub/core/db.py does, and build rows as the owner.

``acting_as`` opens a transaction on a connection of the server's login role,
switches to the caller's role and publishes their claims with
``set_config(..., true)``, and always rolls back, so a test can try writes
without cleaning up. ``expect_error`` runs one statement in a savepoint and
returns the PostgreSQL error it must raise.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

ACCESS_DENIED = "42501"  # insufficient privilege, or an RLS WITH CHECK failure
CHECK_VIOLATION = "23514"
UNIQUE_VIOLATION = "23505"
RAISED = "P0001"  # our own RAISE EXCEPTION '<code>: ...'


@dataclass(frozen=True)
class Caller:
    role: str
    user_id: uuid.UUID | None = None


ANON = Caller("anon")
SERVICE = Caller("service_role")


def as_user(user_id: uuid.UUID) -> Caller:
    return Caller("authenticated", user_id)


async def set_caller(conn: asyncpg.Connection, caller: Caller) -> None:
    """Precondition: inside a transaction (the settings are transaction-local)."""
    claims: dict[str, Any] = {"role": caller.role}
    if caller.user_id is not None:
        claims["sub"] = str(caller.user_id)
    await conn.execute(
        "SELECT set_config('role', $1, true),"
        " set_config('request.jwt.claims', $2, true),"
        " set_config('request.jwt.claim.sub', $3, true)",
        caller.role,
        json.dumps(claims),
        str(caller.user_id) if caller.user_id else "",
    )


@asynccontextmanager
async def acting_as(conn: asyncpg.Connection, caller: Caller) -> AsyncIterator[asyncpg.Connection]:
    """Run the block as ``caller`` in a transaction that is always rolled back."""
    tx = conn.transaction()
    await tx.start()
    try:
        await set_caller(conn, caller)
        yield conn
    finally:
        await tx.rollback()


async def expect_error(
    conn: asyncpg.Connection, sqlstate: str, sql: str, *args: Any, message: str | None = None
) -> asyncpg.PostgresError:
    """Assert that ``sql`` fails with ``sqlstate`` (and a message starting with ``message``).

    Runs in a savepoint so the surrounding transaction, and the caller's role
    set in it, stay usable afterwards.
    """
    with pytest.raises(asyncpg.PostgresError) as info:
        async with conn.transaction():
            await conn.execute(sql, *args)
    err = info.value
    assert err.sqlstate == sqlstate, f"{sql!r}: expected {sqlstate}, got {err.sqlstate} {err}"
    if message is not None:
        assert str(err).startswith(message), f"{sql!r}: unexpected message {err}"
    return err


async def affected(conn: asyncpg.Connection, sql: str, *args: Any) -> int:
    """Rows affected by an INSERT/UPDATE/DELETE (the number at the end of its status)."""
    status = await conn.execute(sql, *args)
    return int(status.rsplit(" ", 1)[-1])


# --------------------------------------------------------------- factories
# Rows are created as the schema owner (RLS does not apply to the owner), so
# set-up never depends on the policies under test. Triggers still fire.

_seq = 0


def _next() -> int:
    global _seq
    _seq += 1
    return _seq


async def make_user(
    owner: asyncpg.Connection,
    *,
    username: str | None = None,
    role: str = "student",
    is_active: bool = True,
) -> uuid.UUID:
    n = _next()
    username = username or f"user_{n}"
    return await owner.fetchval(
        "INSERT INTO users (email, full_name, username, role, is_active)"
        " VALUES ($1, $2, $3, $4::user_role, $5) RETURNING id",
        f"{username}@example.org",
        f"User {n}",
        username,
        role,
        is_active,
    )


async def make_post(
    owner: asyncpg.Connection, author: uuid.UUID, *, published: bool = True
) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO posts (author_id, title, content, is_published)"
        " VALUES ($1, 'A post', 'What I learned today', $2) RETURNING id",
        author,
        published,
    )


async def make_comment(
    owner: asyncpg.Connection, post: uuid.UUID, author: uuid.UUID, parent: uuid.UUID | None = None
) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO comments (post_id, author_id, parent_id, content)"
        " VALUES ($1, $2, $3, 'Nice one') RETURNING id",
        post,
        author,
        parent,
    )


async def make_question(owner: asyncpg.Connection, author: uuid.UUID) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO questions (author_id, title, content, tags)"
        " VALUES ($1, 'How do joins work?', 'I am confused by LEFT JOIN', ARRAY['sql'])"
        " RETURNING id",
        author,
    )


async def make_answer(
    owner: asyncpg.Connection, question: uuid.UUID, author: uuid.UUID
) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO answers (question_id, author_id, content)"
        " VALUES ($1, $2, 'Think of it as keeping every left row') RETURNING id",
        question,
        author,
    )


async def make_resource(
    owner: asyncpg.Connection, author: uuid.UUID, *, public: bool = True
) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO resources (author_id, title, file_url, file_name, file_size, file_type, is_public)"
        " VALUES ($1, 'Cheat sheet', 's3://bucket/x.pdf', 'x.pdf', 1024, 'application/pdf', $2)"
        " RETURNING id",
        author,
        public,
    )


async def make_room(
    owner: asyncpg.Connection,
    creator: uuid.UUID,
    members: Sequence[uuid.UUID] = (),
    *,
    kind: str = "group",
) -> uuid.UUID:
    """A room; its creator becomes its admin through the trigger, members join as members."""
    room = await owner.fetchval(
        "INSERT INTO chat_rooms (name, type, created_by) VALUES ('Study group', $1::room_type, $2)"
        " RETURNING id",
        kind,
        creator,
    )
    for member in members:
        await owner.execute(
            "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)", room, member
        )
    return room


async def make_message(owner: asyncpg.Connection, room: uuid.UUID, sender: uuid.UUID) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO chat_messages (room_id, sender_id, content) VALUES ($1, $2, 'hello') RETURNING id",
        room,
        sender,
    )


async def make_vote(
    owner: asyncpg.Connection, user: uuid.UUID, kind: str, target: uuid.UUID, vote: str = "upvote"
) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
        " VALUES ($1, $2, $3, $4::vote_type) RETURNING id",
        user,
        kind,
        target,
        vote,
    )


async def make_notification(owner: asyncpg.Connection, user: uuid.UUID) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO notifications (user_id, type, title, message)"
        " VALUES ($1, 'follow', 'New follower', 'Someone follows you') RETURNING id",
        user,
    )


async def commit_as(conn: asyncpg.Connection, caller: Caller, sql: str, *args: Any) -> str:
    """Run one statement as ``caller`` in its own transaction and commit it; returns its status."""
    async with conn.transaction():
        await set_caller(conn, caller)
        return await conn.execute(sql, *args)
