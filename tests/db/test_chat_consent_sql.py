"""Consent for rooms in SQL, bypassing the API: adding a stranger to a group makes an
invitation (not a membership) that only its invitee answers, and a direct chat opened by a
stranger is a message request its recipient reads but does not write in until accepted."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    RAISED,
    acting_as,
    affected,
    as_user,
    commit_as,
    expect_error,
    make_message,
    make_room,
    make_user,
)

ADD = "INSERT INTO chat_room_participants (room_id, user_id) VALUES ($1, $2)"


async def follow(owner_conn, follower, followed) -> None:
    await owner_conn.execute(
        "INSERT INTO followers (follower_id, following_id) VALUES ($1, $2)", follower, followed)


async def test_a_stranger_added_to_a_group_is_invited_not_a_member(app_conn, owner_conn):
    admin, stranger, fan, member, outsider = [await make_user(owner_conn) for _ in range(5)]
    await follow(owner_conn, fan, admin)
    room = await make_room(owner_conn, admin, [member])
    await make_message(owner_conn, room, admin)
    async with acting_as(app_conn, as_user(admin)):
        assert await affected(app_conn, ADD, room, stranger) == 0  # no membership...
        assert await affected(app_conn, ADD, room, fan) == 1       # ...but a follower joins
        rows = await app_conn.fetch("SELECT user_id, invited_by, role::text AS role"
                                    " FROM chat_invitations WHERE room_id = $1", room)
        assert [(r["user_id"], r["invited_by"], r["role"]) for r in rows] == [
            (stranger, admin, "member")]
        # Inviting again changes nothing; an invitation is no participant.
        assert await affected(app_conn, ADD, room, stranger) == 0
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_room_participants WHERE room_id = $1", room) == 3
    # Members see the room's invitations; an outsider does not.
    await owner_conn.execute(
        "INSERT INTO chat_invitations (room_id, user_id, invited_by) VALUES ($1, $2, $3)",
        room, stranger, admin)
    async with acting_as(app_conn, as_user(member)):
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 1
        # A plain member invites nobody, even though the row would not be inserted, nor
        # withdraws an invitation.
        await expect_error(app_conn, ACCESS_DENIED, ADD, room, outsider)
        assert await affected(app_conn, "DELETE FROM chat_invitations") == 0
    async with acting_as(app_conn, as_user(outsider)):
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 0
        assert await app_conn.fetchval("SELECT count(*) FROM chat_rooms") == 0
    async with acting_as(app_conn, as_user(stranger)):
        # The invitee sees the invitation and the room's name, nothing else of the room.
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 1
        assert await app_conn.fetchval("SELECT name FROM chat_rooms WHERE id = $1", room) \
            == "Study group"
        assert await app_conn.fetchval("SELECT public.is_room_member($1)", room) is False
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE room_id = $1", room) == 0
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_room_events WHERE room_id = $1", room) == 0
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_room_participants WHERE room_id = $1", room) == 0
        await expect_error(app_conn, RAISED,
                           "SELECT * FROM public.chat_send_message($1, 'hi', 'text', NULL, NULL)",
                           room, message="not_found:")


async def test_only_the_invitee_activates_an_invitation(app_conn, owner_conn):
    admin, stranger, other = [await make_user(owner_conn) for _ in range(3)]
    room = await make_room(owner_conn, admin)
    await make_message(owner_conn, room, admin)
    await owner_conn.execute(
        "INSERT INTO chat_invitations (room_id, user_id, invited_by) VALUES ($1, $2, $3)",
        room, stranger, admin)
    for who in (admin, stranger):
        async with acting_as(app_conn, as_user(who)):
            # Nobody writes invitations directly: no privilege to insert or change them.
            await expect_error(app_conn, ACCESS_DENIED,
                               "UPDATE chat_invitations SET declined_at = now()")
            await expect_error(app_conn, ACCESS_DENIED,
                               "INSERT INTO chat_invitations (room_id, user_id) VALUES ($1, $2)",
                               room, other)
    async with acting_as(app_conn, as_user(stranger)):
        # Declining is the function's (and says nothing to anyone), not a DELETE.
        assert await affected(app_conn, "DELETE FROM chat_invitations") == 0
    async with acting_as(app_conn, as_user(admin)):
        # The room's admin may take the invitation back.
        assert await affected(app_conn, "DELETE FROM chat_invitations") == 1
    async with acting_as(app_conn, as_user(stranger)):
        # Nor does the invitee make themselves a member by hand.
        await expect_error(app_conn, ACCESS_DENIED, ADD, room, stranger)
    for who in (admin, other):
        async with acting_as(app_conn, as_user(who)):
            # The adder (or anyone else) cannot accept for them: there is nothing of theirs.
            assert await app_conn.fetchval(
                "SELECT public.chat_accept_invitation($1)", room) is False
            assert await app_conn.fetchval(
                "SELECT count(*) FROM chat_room_participants WHERE user_id = $1", stranger) == 0
        assert await owner_conn.fetchval("SELECT count(*) FROM chat_invitations") == 1
    async with acting_as(app_conn, as_user(stranger)):
        assert await app_conn.fetchval("SELECT public.chat_accept_invitation($1)", room) is True
        assert await app_conn.fetchval("SELECT public.room_role($1)::text", room) == "member"
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE room_id = $1", room) == 1
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 0
        # Accepted once; a second answer finds nothing.
        assert await app_conn.fetchval("SELECT public.chat_accept_invitation($1)", room) is False


async def test_declining_a_group_invitation_removes_it(app_conn, owner_conn):
    admin, stranger = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, admin)
    await owner_conn.execute(
        "INSERT INTO chat_invitations (room_id, user_id, invited_by) VALUES ($1, $2, $3)",
        room, stranger, admin)
    async with acting_as(app_conn, as_user(admin)):
        await expect_error(app_conn, RAISED, "SELECT public.chat_decline_invitation($1)", room,
                           message="not_found:")
    async with acting_as(app_conn, as_user(stranger)):
        await app_conn.execute("SELECT public.chat_decline_invitation($1)", room)
        assert await app_conn.fetchval("SELECT public.is_room_member($1)", room) is False
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 0


async def test_a_strangers_direct_chat_is_a_request(app_conn, owner_conn):
    stranger, alice, friend, picky = [await make_user(owner_conn) for _ in range(4)]
    await follow(owner_conn, friend, stranger)
    await owner_conn.execute(
        "INSERT INTO user_privacy (user_id, dm_from) VALUES ($1, 'following')", picky)
    opened = "SELECT room_id FROM public.chat_open_direct_room($1)"
    await commit_as(app_conn, as_user(stranger), opened, alice)
    await commit_as(app_conn, as_user(stranger), opened, friend)
    rows = await owner_conn.fetch(
        "SELECT r.id, i.user_id AS asked FROM chat_rooms r"
        " LEFT JOIN chat_invitations i ON i.room_id = r.id WHERE r.type = 'direct'"
        " ORDER BY r.created_at, r.id")
    asked = {r["asked"] for r in rows}
    # Both rooms hold their two people; only the one with a non-follower is a request.
    assert len(rows) == 2 and asked == {alice, None}
    for r in rows:
        assert await owner_conn.fetchval(
            "SELECT count(*) FROM chat_room_participants WHERE room_id = $1", r["id"]) == 2
    async with acting_as(app_conn, as_user(stranger)):
        # The opener sees nothing of the request.
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 0
        # Someone who takes chats only from people they follow still refuses.
        await expect_error(app_conn, RAISED, "SELECT * FROM public.chat_open_direct_room($1)",
                           picky, message="forbidden:")


async def test_a_message_request_is_read_not_written_until_accepted(app_conn, owner_conn):
    stranger, alice = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, stranger, [alice], kind="direct")
    await make_message(owner_conn, room, stranger)
    await owner_conn.execute(
        "INSERT INTO chat_invitations (room_id, user_id, invited_by) VALUES ($1, $2, $3)",
        room, alice, stranger)
    send = "SELECT id FROM public.chat_send_message($1, 'hi', 'text', NULL, NULL)"
    async with acting_as(app_conn, as_user(alice)):
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE room_id = $1", room) == 1
        await expect_error(app_conn, RAISED, send, room, message="conflict:")
        await expect_error(app_conn, RAISED,
                           "INSERT INTO chat_messages (room_id, sender_id, content)"
                           " VALUES ($1, $2, 'hi')", room, alice, message="conflict:")
        await app_conn.execute("SELECT public.chat_decline_invitation($1)", room)
        # Declined is kept (so the room stays out of her lists) and still refuses her writing.
        assert await app_conn.fetchval(
            "SELECT declined_at IS NOT NULL FROM chat_invitations WHERE room_id = $1", room)
        await expect_error(app_conn, RAISED, send, room, message="conflict:")
    async with acting_as(app_conn, as_user(stranger)):
        # The opener is not told, and may still write (only they read it); nor can the
        # opener, admin of the direct room as both are, remove the request.
        assert await app_conn.fetchval("SELECT count(*) FROM chat_invitations") == 0
        assert await affected(app_conn, "DELETE FROM chat_invitations") == 0
        assert await app_conn.fetchval(send, room) is not None
    await owner_conn.execute("UPDATE chat_invitations SET declined_at = NULL")
    async with acting_as(app_conn, as_user(alice)):
        await app_conn.execute("SELECT public.chat_accept_invitation($1)", room)
        assert await app_conn.fetchval(send, room) is not None
        assert await app_conn.fetchval(
            "SELECT count(*) FROM chat_room_participants WHERE room_id = $1", room) == 2
