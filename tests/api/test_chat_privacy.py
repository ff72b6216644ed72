"""What a chat forgets: edited and deleted text leaves the event log; direct rooms have no admin."""

from __future__ import annotations

from tests.api.conftest import make_user
from tests.api.test_chat import ROOMS, group, send


async def test_edited_and_deleted_text_is_gone_from_replays_and_exports(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    rid = (await group(client, alice, bob))["id"]
    leaked = (await send(client, alice, rid, "my password is hunter2")).json()
    typo = (await send(client, alice, rid, "teh first draft")).json()
    r = await client.delete(f"{ROOMS}/{rid}/messages/{leaked['id']}", headers=alice["headers"])
    assert r.status_code == 200
    r = await client.patch(f"{ROOMS}/{rid}/messages/{typo['id']}", headers=alice["headers"],
                           json={"content": "the final text"})
    assert r.status_code == 200
    log = await owner_conn.fetch("SELECT type, payload::text AS payload FROM chat_room_events"
                                 " WHERE room_id = $1::uuid ORDER BY seq", rid)
    text = " ".join(r["payload"] for r in log)
    assert "hunter2" not in text and "teh first draft" not in text
    assert "the final text" in text
    # The events are still there, in order, for resuming clients: only their text changed.
    assert [r["type"] for r in log][-4:] == ["message.created", "message.created",
                                             "message.deleted", "message.updated"]
    export = await client.get(f"{ROOMS}/{rid}/export", headers=bob["headers"])
    assert "hunter2" not in export.text and "teh first draft" not in export.text


async def test_a_direct_room_has_two_equal_members(client):
    alice, bob = await make_user(client), await make_user(client)
    r = await client.post(ROOMS, json={"type": "direct", "user_id": bob["user"]["id"]},
                          headers=alice["headers"])
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    mine = (await send(client, alice, rid, "hello bob")).json()
    r = await client.delete(f"{ROOMS}/{rid}/messages/{mine['id']}", headers=bob["headers"])
    assert r.status_code == 403
    r = await client.patch(f"{ROOMS}/{rid}", json={"name": "bob's room"}, headers=bob["headers"])
    assert r.status_code == 403
    r = await client.patch(f"{ROOMS}/{rid}/participants/{alice['user']['id']}",
                           json={"role": "member"}, headers=bob["headers"])
    assert r.status_code == 403
    # Each still deletes their own.
    r = await client.delete(f"{ROOMS}/{rid}/messages/{mine['id']}", headers=alice["headers"])
    assert r.status_code == 200


async def test_two_simultaneous_first_sends_with_one_key_make_one_message(client, owner_conn):
    import asyncio

    alice, bob = await make_user(client), await make_user(client)
    rid = (await group(client, alice, bob))["id"]
    results = await asyncio.gather(*[
        send(client, alice, rid, "only once", idempotency_key="retry-42") for _ in range(6)])
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_messages WHERE room_id = $1::uuid AND content = 'only once'",
        rid) == 1


async def test_message_events_name_their_sender(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    rid = (await group(client, alice, bob))["id"]
    await send(client, alice, rid, "hello")
    payload = await owner_conn.fetchval(
        "SELECT payload FROM chat_room_events WHERE room_id = $1::uuid AND type = 'message.created'"
        " ORDER BY seq DESC LIMIT 1", rid)
    import json

    assert json.loads(payload)["sender_username"] == alice["user"]["username"]
