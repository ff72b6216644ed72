"""Read state: what ``POST /chat/rooms/{id}/read`` answers agrees with the room's own unread
count (``GET /chat/rooms/{id}``): muted rooms, muted people and message requests included."""

from __future__ import annotations

from tests.api.conftest import make_user
from tests.api.test_chat import ROOMS, group, send


async def unread(client, user, room_id) -> int:
    room = await client.get(f"{ROOMS}/{room_id}", headers=user["headers"])
    assert room.status_code == 200, room.text
    return room.json()["unread_count"]


async def mark(client, user, room_id, seq) -> dict:
    r = await client.post(f"{ROOMS}/{room_id}/read", json={"seq": seq}, headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_read_answer_counts_unread_as_the_room_does(client):
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    rid = (await group(client, alice, bob, carol))["id"]
    first = (await send(client, alice, rid, "one")).json()
    for text in ("two", "three"):
        assert (await send(client, alice, rid, text)).status_code == 201
    for text in ("noise", "more noise"):
        assert (await send(client, carol, rid, text)).status_code == 201

    # Bob mutes Carol: her messages are not counted unread, in the room nor in the answer.
    assert (await client.put(f"/api/v1/users/{carol['user']['id']}/mute",
                             headers=bob["headers"])).status_code == 204
    assert await unread(client, bob, rid) == 3
    answer = await mark(client, bob, rid, first["seq"])
    assert answer["last_read_seq"] == first["seq"]
    assert answer["unread_count"] == await unread(client, bob, rid) == 2

    # A muted room has nothing unread.
    assert (await client.put(f"{ROOMS}/{rid}/mute", headers=bob["headers"])).status_code == 204
    assert await unread(client, bob, rid) == 0
    answer = await mark(client, bob, rid, first["seq"] + 1)
    assert answer["unread_count"] == await unread(client, bob, rid) == 0


async def test_a_message_request_reads_as_the_room_does(client):
    alice, bob = await make_user(client), await make_user(client)
    # Bob does not follow Alice: her direct chat is a request to him.
    room = await client.post(ROOMS, json={"type": "direct", "user_id": bob["user"]["id"]},
                             headers=alice["headers"])
    assert room.status_code == 201, room.text
    rid = room.json()["id"]
    first = (await send(client, alice, rid, "hello?")).json()
    assert (await send(client, alice, rid, "are you there?")).status_code == 201
    assert await unread(client, bob, rid) == 0
    answer = await mark(client, bob, rid, first["seq"])
    assert answer["unread_count"] == await unread(client, bob, rid) == 0
