"""The room event log (the most sensitive table: it held every message) in SQL: who reads it."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    acting_as,
    as_user,
    expect_error,
    make_message,
    make_room,
    make_user,
)


async def test_only_current_participants_read_a_room_s_events(app_conn, owner_conn):
    alice, bob, eve = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    room = await make_room(owner_conn, alice, [bob])
    await make_message(owner_conn, room, alice)
    total = await owner_conn.fetchval("SELECT count(*) FROM chat_room_events WHERE room_id = $1", room)
    assert total >= 2

    async def visible(caller) -> int:
        async with acting_as(app_conn, caller):
            return await app_conn.fetchval(
                "SELECT count(*) FROM chat_room_events WHERE room_id = $1", room)

    assert await visible(as_user(alice)) == total
    assert await visible(as_user(bob)) == total
    assert await visible(as_user(eve)) == 0
    assert await visible(as_user(admin)) == 0  # admins moderate content, they do not read chats
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, ACCESS_DENIED, "SELECT * FROM chat_room_events")
    async with acting_as(app_conn, as_user(alice)):
        await expect_error(app_conn, ACCESS_DENIED,
                           "UPDATE chat_room_events SET payload = '{}' WHERE room_id = $1", room)
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO chat_room_events (room_id, seq, type, payload)"
                           " VALUES ($1, 999, 'message.created', '{}')", room)
        await expect_error(app_conn, ACCESS_DENIED,
                           "DELETE FROM chat_room_events WHERE room_id = $1", room)
    # Bob leaves: from then on he reads nothing of the room.
    await owner_conn.execute("DELETE FROM chat_room_participants WHERE room_id = $1 AND user_id = $2",
                             room, bob)
    assert await visible(as_user(bob)) == 0
