"""The writes that can end a session say so on ``focushub_sessions`` at their commit (0050):
a revoked token family names its user and session; an account deactivated, suspended or
deleted names its user. A token rotated (spent, not revoked) or a profile edited says
nothing."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import asyncpg

from tests.db.helpers import make_user


async def _notices(test_db, write) -> list[dict]:
    """What ``write(owner)`` (committed) said on the channel."""
    heard: list[dict] = []
    listener = await asyncpg.connect(test_db.owner_url)
    owner = await asyncpg.connect(test_db.owner_url)
    try:
        await listener.add_listener(
            "focushub_sessions", lambda *args: heard.append(json.loads(args[3])))
        await write(owner)
        await listener.execute("SELECT 1")  # a round trip: what was sent has arrived
        await asyncio.sleep(0.05)
    finally:
        await owner.close()
        await listener.close()
    return heard


async def _token(owner, user, family) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO focushub_auth.refresh_tokens (user_id, family_id, token_hash, expires_at)"
        " VALUES ($1, $2, $3, now() + interval '1 day') RETURNING id",
        user, family, os.urandom(32))


async def test_ending_sessions_says_so_and_nothing_else_does(test_db, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    laptop, phone, bobs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for user, family in ((alice, laptop), (alice, laptop), (alice, phone), (bob, bobs)):
        await _token(owner_conn, user, family)

    async def rotate(owner):
        await owner.execute("UPDATE focushub_auth.refresh_tokens SET spent_at = now()"
                            " WHERE family_id = $1", laptop)
        await owner.execute("UPDATE users SET bio = 'hi', suspended_until = now() - interval"
                            " '1 day' WHERE id = $1", alice)

    assert await _notices(test_db, rotate) == []

    async def log_out_laptop(owner):  # two tokens of one family: one notice
        await owner.execute("UPDATE focushub_auth.refresh_tokens SET revoked_at = now()"
                            " WHERE family_id = $1", laptop)

    assert await _notices(test_db, log_out_laptop) == [
        {"user_id": str(alice), "session_id": str(laptop)}]

    async def rolled_back(owner):  # nothing is said of what did not happen
        tx = owner.transaction()
        await tx.start()
        await owner.execute("UPDATE focushub_auth.refresh_tokens SET revoked_at = now()"
                            " WHERE family_id = $1", phone)
        await owner.execute("UPDATE users SET is_active = false WHERE id = $1", alice)
        await tx.rollback()

    assert await _notices(test_db, rolled_back) == []

    async def deactivate_suspend_delete(owner):
        await owner.execute("UPDATE users SET is_active = false WHERE id = $1", alice)
        await owner.execute("UPDATE users SET is_active = false WHERE id = $1", alice)  # again
        await owner.execute("UPDATE users SET suspended_until = now() + interval '1 day'"
                            " WHERE id = $1", bob)
        await owner.execute("DELETE FROM users WHERE id = $1", bob)

    assert await _notices(test_db, deactivate_suspend_delete) == [
        {"user_id": str(alice), "session_id": None},
        {"user_id": str(bob), "session_id": None},
        {"user_id": str(bob), "session_id": None},
    ]
