"""Consent for rooms over HTTP: strangers are invited to groups, not added; a stranger's
direct chat is a message request, apart from the recipient's rooms and without unread
counts, until they accept; declining leaves the other side untold."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import follow, make_user
from tests.api.test_chat import ROOMS, send

CHAT = "/api/v1/chat"


async def rooms_of(client: httpx.AsyncClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.get(ROOMS, headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def listed(client: httpx.AsyncClient, user: dict[str, Any], what: str) -> list[dict[str, Any]]:
    r = await client.get(f"{CHAT}/{what}", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_spammer_group_of_ten_strangers_is_ten_invitations_and_no_members(
        client, owner_conn):
    spammer = await make_user(client)
    strangers = [await make_user(client) for _ in range(10)]
    r = await client.post(ROOMS, headers=spammer["headers"], json={
        "type": "group", "name": "Free stuff",
        "member_ids": [s["user"]["id"] for s in strangers]})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    people = (await client.get(f"{ROOMS}/{rid}/participants", headers=spammer["headers"])).json()
    assert [p["user_id"] for p in people] == [spammer["user"]["id"]]
    invited = (await client.get(f"{ROOMS}/{rid}/invitations", headers=spammer["headers"])).json()
    assert sorted(i["user"]["id"] for i in invited) == sorted(s["user"]["id"] for s in strangers)
    assert {i["invited_by"]["id"] for i in invited} == {spammer["user"]["id"]}
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_room_participants WHERE room_id = $1::uuid", rid) == 1
    # The spam reaches no stranger: not in their rooms, not readable, no "joined" for them.
    await send(client, spammer, rid, "click here")
    victim = strangers[0]
    assert await rooms_of(client, victim) == []
    assert (await client.get(f"{ROOMS}/{rid}/messages", headers=victim["headers"])).status_code \
        == 404
    assert (await client.get(f"{ROOMS}/{rid}", headers=victim["headers"])).status_code == 404
    r = await client.get(f"{ROOMS}/{rid}/invitations", headers=victim["headers"])
    assert r.status_code == 404
    (mine,) = await listed(client, victim, "invitations")
    assert mine["room_id"] == rid and mine["room_name"] == "Free stuff"
    assert mine["invited_by"]["username"] == spammer["user"]["username"]
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_messages WHERE room_id = $1::uuid AND message_type = 'system'",
        rid) == 1  # "created the room" only
    # Nor any notification.
    assert await owner_conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1::uuid",
                                     victim["user"]["id"]) == 0


async def test_followers_are_added_and_strangers_invited_one_by_one(client):
    admin, fan, stranger, member = [await make_user(client) for _ in range(4)]
    await follow(client, fan, admin)
    await follow(client, member, admin)
    r = await client.post(ROOMS, headers=admin["headers"],
                          json={"type": "group", "name": "Study", "member_ids": [member["user"]["id"]]})
    rid = r.json()["id"]
    r = await client.post(f"{ROOMS}/{rid}/participants", headers=admin["headers"],
                          json={"user_id": fan["user"]["id"]})
    assert r.status_code == 201 and r.json()["role"] == "member"
    r = await client.post(f"{ROOMS}/{rid}/participants", headers=admin["headers"],
                          json={"user_id": stranger["user"]["id"], "role": "moderator"})
    assert r.status_code == 202, r.text
    assert r.json()["user"]["id"] == stranger["user"]["id"] and r.json()["role"] == "moderator"
    # A plain member may not invite either.
    other = await make_user(client)
    r = await client.post(f"{ROOMS}/{rid}/participants", headers=member["headers"],
                          json={"user_id": other["user"]["id"]})
    assert r.status_code == 403
    # Members see the invitation as such, not as a participant.
    people = (await client.get(f"{ROOMS}/{rid}/participants", headers=member["headers"])).json()
    assert stranger["user"]["id"] not in {p["user_id"] for p in people}
    invited = (await client.get(f"{ROOMS}/{rid}/invitations", headers=member["headers"])).json()
    assert [i["user"]["id"] for i in invited] == [stranger["user"]["id"]]
    # Only the admin takes an invitation back; here one made by mistake.
    r = await client.post(f"{ROOMS}/{rid}/participants", headers=admin["headers"],
                          json={"user_id": other["user"]["id"]})
    assert r.status_code == 202
    withdraw = f"{ROOMS}/{rid}/invitations/{other['user']['id']}"
    assert (await client.delete(withdraw, headers=member["headers"])).status_code == 403
    assert (await client.delete(withdraw, headers=other["headers"])).status_code == 404
    assert (await client.delete(withdraw, headers=admin["headers"])).status_code == 204
    assert (await client.delete(withdraw, headers=admin["headers"])).status_code == 404
    assert await listed(client, other, "invitations") == []

    # Only the invitee answers; then they are a member with the role they were invited to.
    r = await client.post(f"{CHAT}/invitations/{rid}/accept", headers=admin["headers"])
    assert r.status_code == 404
    r = await client.post(f"{CHAT}/requests/{rid}/accept", headers=stranger["headers"])
    assert r.status_code == 404  # a group invitation is not a message request
    r = await client.post(f"{CHAT}/invitations/{rid}/accept", headers=stranger["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["my_role"] == "moderator" and r.json()["id"] == rid
    assert await listed(client, stranger, "invitations") == []
    assert rid in {room["id"] for room in await rooms_of(client, stranger)}
    messages = (await client.get(f"{ROOMS}/{rid}/messages", headers=stranger["headers"])).json()
    assert messages["items"][-1]["content"] == f"@{stranger['user']['username']} joined"
    assert (await send(client, stranger, rid, "hello all")).status_code == 201
    r = await client.post(f"{CHAT}/invitations/{rid}/accept", headers=stranger["headers"])
    assert r.status_code == 404


async def test_declining_an_invitation_only_makes_it_disappear(client, owner_conn):
    admin, stranger = await make_user(client), await make_user(client)
    rid = (await client.post(ROOMS, headers=admin["headers"], json={
        "type": "group", "name": "Study", "member_ids": [stranger["user"]["id"]]})).json()["id"]
    before = await owner_conn.fetchval(
        "SELECT last_event_seq FROM chat_rooms WHERE id = $1::uuid", rid)
    r = await client.post(f"{CHAT}/invitations/{rid}/decline", headers=stranger["headers"])
    assert r.status_code == 204
    assert await listed(client, stranger, "invitations") == []
    assert (await client.get(f"{ROOMS}/{rid}/invitations", headers=admin["headers"])).json() == []
    # Nothing else happened in the room: no event, no message.
    assert await owner_conn.fetchval(
        "SELECT last_event_seq FROM chat_rooms WHERE id = $1::uuid", rid) == before
    r = await client.post(f"{CHAT}/invitations/{rid}/decline", headers=stranger["headers"])
    assert r.status_code == 404
    # Invited again later, they may still accept.
    r = await client.post(f"{ROOMS}/{rid}/participants", headers=admin["headers"],
                          json={"user_id": stranger["user"]["id"]})
    assert r.status_code == 202


async def test_a_strangers_direct_chat_is_a_message_request(client, owner_conn):
    stranger, alice, friend = [await make_user(client) for _ in range(3)]
    await follow(client, friend, stranger)
    r = await client.post(ROOMS, headers=stranger["headers"],
                          json={"type": "direct", "user_id": alice["user"]["id"]})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["request"] is False  # the opener's side is a chat like any other
    for text in ("hi", "buy my course", "please"):
        assert (await send(client, stranger, rid, text)).status_code == 201
    # To a follower, a direct chat is a chat.
    r = await client.post(ROOMS, headers=stranger["headers"],
                          json={"type": "direct", "user_id": friend["user"]["id"]})
    fid = r.json()["id"]
    await send(client, stranger, fid, "hey friend")
    assert [(x["id"], x["unread_count"], x["request"]) for x in await rooms_of(client, friend)] \
        == [(fid, 1, False)]
    assert await listed(client, friend, "requests") == []

    # Alice: no room, one request (readable, nothing unread), no notification.
    assert await rooms_of(client, alice) == []
    (request,) = await listed(client, alice, "requests")
    assert request["id"] == rid and request["request"] is True
    assert request["unread_count"] == 0
    assert request["peer"]["id"] == stranger["user"]["id"]
    assert request["last_message"]["content"] == "please"
    messages = (await client.get(f"{ROOMS}/{rid}/messages", headers=alice["headers"])).json()
    assert [m["content"] for m in messages["items"]] == ["hi", "buy my course", "please"]
    assert await owner_conn.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1::uuid",
                                     alice["user"]["id"]) == 0
    # She answers before she writes; the stranger cannot answer for her.
    r = await send(client, alice, rid, "who are you?")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await client.post(f"{CHAT}/requests/{rid}/accept", headers=stranger["headers"])
    assert r.status_code == 404
    r = await client.post(f"{CHAT}/invitations/{rid}/accept", headers=alice["headers"])
    assert r.status_code == 404  # a request is not a group invitation
    r = await client.post(f"{CHAT}/requests/{rid}/accept", headers=alice["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["request"] is False and r.json()["unread_count"] == 3
    assert await listed(client, alice, "requests") == []
    assert [x["id"] for x in await rooms_of(client, alice)] == [rid]
    assert (await send(client, alice, rid, "hello")).status_code == 201


async def test_a_declined_request_is_hidden_and_the_opener_not_told(client):
    stranger, alice = await make_user(client), await make_user(client)
    rid = (await client.post(ROOMS, headers=stranger["headers"], json={
        "type": "direct", "user_id": alice["user"]["id"]})).json()["id"]
    await send(client, stranger, rid, "hi")
    seen_by_opener = (await client.get(f"{ROOMS}/{rid}", headers=stranger["headers"])).json()
    r = await client.post(f"{CHAT}/requests/{rid}/decline", headers=alice["headers"])
    assert r.status_code == 204
    assert await listed(client, alice, "requests") == []
    assert await rooms_of(client, alice) == []
    # The opener sees the same room as before and may still write; it reaches no list of hers.
    after = (await client.get(f"{ROOMS}/{rid}", headers=stranger["headers"])).json()
    assert after["request"] is False and after["my_role"] == seen_by_opener["my_role"]
    assert (await send(client, stranger, rid, "hello??")).status_code == 201
    assert await listed(client, alice, "requests") == []
    assert await rooms_of(client, alice) == []
    assert (await send(client, alice, rid, "no")).status_code == 409
    # Opening a chat with him herself later makes it an ordinary chat, history included.
    r = await client.post(ROOMS, headers=alice["headers"],
                          json={"type": "direct", "user_id": stranger["user"]["id"]})
    assert r.status_code == 200 and r.json()["id"] == rid and r.json()["request"] is False
    assert [x["id"] for x in await rooms_of(client, alice)] == [rid]
    assert (await send(client, alice, rid, "ok, hi")).status_code == 201


async def test_dm_from_following_still_refuses_strangers(client, owner_conn):
    stranger, picky = await make_user(client), await make_user(client)
    r = await client.patch("/api/v1/users/me/privacy", headers=picky["headers"],
                           json={"dm_from": "following"})
    assert r.status_code == 200, r.text
    r = await client.post(ROOMS, headers=stranger["headers"],
                          json={"type": "direct", "user_id": picky["user"]["id"]})
    assert r.status_code == 403
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_rooms") == 0
    # To a group she is invited, which she may decline.
    r = await client.post(ROOMS, headers=stranger["headers"], json={
        "type": "group", "name": "Study", "member_ids": [picky["user"]["id"]]})
    assert r.status_code == 201
    assert len(await listed(client, picky, "invitations")) == 1


async def test_a_block_withdraws_the_group_invitations_between_the_two(client, owner_conn):
    admin, bob, carol = [await make_user(client) for _ in range(3)]
    rooms = []
    for name in ("Study", "Lab"):
        r = await client.post(ROOMS, headers=admin["headers"], json={
            "type": "group", "name": name,
            "member_ids": [bob["user"]["id"], carol["user"]["id"]]})
        rooms.append(r.json()["id"])
    assert len(await listed(client, bob, "invitations")) == 2
    # Bob blocks the inviter; carol, whom admin also invited, changes nothing.
    r = await client.put(f"/api/v1/users/{admin['user']['id']}/block", headers=bob["headers"])
    assert r.status_code == 204
    assert await listed(client, bob, "invitations") == []
    r = await client.post(f"{CHAT}/invitations/{rooms[0]}/accept", headers=bob["headers"])
    assert r.status_code == 404
    assert rooms[0] not in {room["id"] for room in await rooms_of(client, bob)}
    assert len(await listed(client, carol, "invitations")) == 2
    # The other way round: the inviter blocks the invitee.
    r = await client.put(f"/api/v1/users/{carol['user']['id']}/block", headers=admin["headers"])
    assert r.status_code == 204
    assert await listed(client, carol, "invitations") == []
    # An invitation the block did not take (a race) is taken by accepting it; nobody joins.
    dave = await make_user(client)
    r = await client.post(f"{ROOMS}/{rooms[1]}/participants", headers=admin["headers"],
                          json={"user_id": dave["user"]["id"]})
    assert r.status_code == 202
    await owner_conn.execute(
        "ALTER TABLE user_blocks DISABLE TRIGGER user_blocks_after_insert_trigger")
    try:
        await owner_conn.execute("INSERT INTO user_blocks (blocker_id, blocked_id)"
                                 " VALUES ($1::uuid, $2::uuid)",
                                 dave["user"]["id"], admin["user"]["id"])
    finally:
        await owner_conn.execute(
            "ALTER TABLE user_blocks ENABLE TRIGGER user_blocks_after_insert_trigger")
    assert len(await listed(client, dave, "invitations")) == 1
    r = await client.post(f"{CHAT}/invitations/{rooms[1]}/accept", headers=dave["headers"])
    assert r.status_code == 404
    assert rooms[1] not in {room["id"] for room in await rooms_of(client, dave)}
    assert await listed(client, dave, "invitations") == []


async def test_reading_a_message_request_tells_its_opener_nothing_until_accepted(client):
    stranger, alice = await make_user(client), await make_user(client)
    r = await client.post(ROOMS, headers=stranger["headers"],
                          json={"type": "direct", "user_id": alice["user"]["id"]})
    rid = r.json()["id"]
    await send(client, stranger, rid, "hi")

    async def seen_by_alice() -> bool:
        items = (await client.get(f"{ROOMS}/{rid}/messages",
                                  headers=stranger["headers"])).json()["items"]
        return items[-1]["is_read"]

    r = await client.post(f"{ROOMS}/{rid}/read", headers=alice["headers"], json={})
    assert r.status_code == 200, r.text
    assert await seen_by_alice() is False  # a read receipt would answer the request
    r = await client.post(f"{CHAT}/requests/{rid}/accept", headers=alice["headers"])
    assert r.status_code == 200
    r = await client.post(f"{ROOMS}/{rid}/read", headers=alice["headers"], json={})
    assert r.status_code == 200
    assert await seen_by_alice() is True
