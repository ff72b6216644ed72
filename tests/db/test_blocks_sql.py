"""Blocks hold for SQL that bypasses the API: the blocked person can neither read nor undo
the block, nor follow, comment, message, add to a room or notify the blocker."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    RAISED,
    acting_as,
    affected,
    as_user,
    expect_error,
    make_post,
    make_room,
    make_user,
)


async def test_the_block_rules_hold_in_sql(app_conn, owner_conn):
    alice, troll = await make_user(owner_conn), await make_user(owner_conn)
    post = await make_post(owner_conn, alice)
    direct = await make_room(owner_conn, troll, [alice], kind="direct")
    group = await make_room(owner_conn, troll)
    await owner_conn.execute("INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                             alice, troll)
    async with acting_as(app_conn, as_user(troll)):
        # The block itself: invisible to him, and not his to lift or forge.
        assert await app_conn.fetchval("SELECT count(*) FROM user_blocks") == 0
        assert await affected(app_conn, "DELETE FROM user_blocks") == 0
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                           alice, troll)
        assert await app_conn.fetchval("SELECT count(*) FROM posts WHERE id = $1", post) == 0
        await expect_error(app_conn, RAISED,
                           "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)",
                           troll, alice, message="not_found:")
        await expect_error(app_conn, RAISED,
                           "INSERT INTO comments (post_id, author_id, content) VALUES ($1, $2, 'x')",
                           post, troll, message="not_found:")
        await expect_error(app_conn, RAISED,
                           "INSERT INTO chat_messages (room_id, sender_id, content) VALUES ($1, $2, 'x')",
                           direct, troll, message="not_found:")
        await expect_error(app_conn, RAISED,
                           "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
                           group, alice, message="not_found:")
    # Whatever writes a notification, none crosses the block.
    await owner_conn.execute(
        "SELECT public.notify($1, $2, 'follow', 'user', $2, 'x')", alice, troll)
    assert await owner_conn.fetchval("SELECT count(*) FROM notifications") == 0


async def test_mutes_and_room_mutes_are_private_and_ones_own(app_conn, owner_conn):
    alice, bob, carol = [await make_user(owner_conn) for _ in range(3)]
    room = await make_room(owner_conn, alice, [bob])
    await owner_conn.execute("INSERT INTO user_mutes (muter_id, muted_id) VALUES ($1, $2)",
                             alice, bob)
    async with acting_as(app_conn, as_user(bob)):
        assert await app_conn.fetchval("SELECT count(*) FROM user_mutes") == 0
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO user_mutes (muter_id, muted_id) VALUES ($1, $2)", alice, carol)
    async with acting_as(app_conn, as_user(carol)):
        # Only a participant mutes a room.
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO room_mutes (user_id, room_id) VALUES ($1, $2)", carol, room)


async def test_a_message_s_checks_come_in_their_order(app_conn, owner_conn):
    """The room, a retry, an archived room, a block, a pending request: the first that
    applies answers (one trigger, 0036)."""
    alice, troll = await make_user(owner_conn), await make_user(owner_conn)
    direct = await make_room(owner_conn, troll, [alice], kind="direct")
    first = await owner_conn.fetchval(
        "INSERT INTO chat_messages (room_id, sender_id, content, idempotency_key)"
        " VALUES ($1, $2, 'x', 'k-1') RETURNING id", direct, troll)
    send = "SELECT id FROM public.chat_send_message($1, 'x', 'text', NULL, $2)"
    await owner_conn.execute("INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                             alice, troll)
    async with acting_as(app_conn, as_user(troll)):
        # A retry of what was sent before the block is still that message, not a refusal.
        assert await app_conn.fetchval(send, direct, "k-1") == first
        await expect_error(app_conn, RAISED, send, direct, "k-2",
                           message="not_found: no such room")
    await owner_conn.execute("UPDATE chat_rooms SET is_active = false WHERE id = $1", direct)
    async with acting_as(app_conn, as_user(troll)):
        await expect_error(app_conn, RAISED, send, direct, "k-3",
                           message="conflict: the room is archived")
    assert await owner_conn.fetchval(
        "SELECT array_agg(id) FROM chat_messages WHERE room_id = $1", direct) == [first]
