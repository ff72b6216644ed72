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
