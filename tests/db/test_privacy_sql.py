"""Privacy settings in SQL: one's own only, and the chat consent rule holds for any insert."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    acting_as,
    affected,
    as_user,
    expect_error,
    make_room,
    make_user,
)


async def test_privacy_rows_are_their_owners_and_consent_is_enforced(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    await owner_conn.execute(
        "INSERT INTO user_privacy (user_id, profile_visibility, dm_from)"
        " VALUES ($1, 'signed_in', 'following')", alice)
    room = await make_room(owner_conn, bob)
    direct = await make_room(owner_conn, bob, kind="direct")
    async with acting_as(app_conn, as_user(bob)):
        assert await app_conn.fetchval("SELECT count(*) FROM user_privacy") == 0
        assert await affected(app_conn, "UPDATE user_privacy SET dm_from = 'everyone'") == 0
        await expect_error(app_conn, ACCESS_DENIED,
                           "INSERT INTO user_privacy (user_id) VALUES ($1)", alice)
        # Any insert of her into a direct chat is refused; into a group, she is invited
        # instead (0031) and is no participant.
        await expect_error(app_conn, RAISED,
                           "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
                           direct, alice, message="forbidden:")
        assert await affected(
            app_conn, "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)",
            room, alice) == 0
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_room_participants WHERE user_id = $1", alice) == 0
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_invitations WHERE user_id = $1", alice) == 1
        # Her email stays hers unless she shows it.
        assert await app_conn.fetchval("SELECT public.shown_email($1)", alice) is None
        await expect_error(app_conn, ACCESS_DENIED, "SELECT email FROM users WHERE id = $1", alice)
    async with acting_as(app_conn, ANON):
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", alice) is False
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", bob) is True
        await expect_error(app_conn, ACCESS_DENIED, "SELECT public.change_email('x@example.org')")


async def test_a_deactivated_account_is_not_there_for_others_nor_followed(app_conn, owner_conn):
    """0051: profile_visible() requires an active account but for administrators, and the
    follow policy asks it."""
    alice, gone = await make_user(owner_conn), await make_user(owner_conn, is_active=False)
    admin = await make_user(owner_conn, role="admin")
    follow = "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)"
    async with acting_as(app_conn, as_user(alice)):
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", gone) is False
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", admin) is True
        await expect_error(app_conn, ACCESS_DENIED, follow, alice, gone)
    async with acting_as(app_conn, ANON):
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", gone) is False
    async with acting_as(app_conn, as_user(admin)):
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", gone) is True
    await owner_conn.execute("UPDATE users SET is_active = true WHERE id = $1", gone)
    async with acting_as(app_conn, as_user(alice)):
        assert await app_conn.fetchval("SELECT public.profile_visible($1)", gone) is True
        await app_conn.execute(follow, alice, gone)
