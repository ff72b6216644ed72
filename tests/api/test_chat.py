"""Chat over REST: rooms, participants, messages, sequences, read state, export."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import follow, make_user
from tests.querycount import count_queries

ROOMS = "/api/v1/chat/rooms"


async def group(client: httpx.AsyncClient, owner: dict[str, Any], *members: dict[str, Any],
                name: str = "Study group") -> dict[str, Any]:
    """A group of ``owner`` with ``members`` in it: they follow the owner first, so they are
    added rather than invited (0031; tests/api/test_chat_consent.py has the invitations)."""
    for member in members:
        await follow(client, member, owner)
    response = await client.post(
        ROOMS,
        json={"type": "group", "name": name, "description": "Linear algebra",
              "member_ids": [m["user"]["id"] for m in members]},
        headers=owner["headers"],
    )
    assert response.status_code == 201, response.text
    return response.json()


async def send(client: httpx.AsyncClient, user: dict[str, Any], room_id: str, content: str,
               **extra: Any) -> httpx.Response:
    return await client.post(
        f"{ROOMS}/{room_id}/messages", json={"content": content, **extra}, headers=user["headers"]
    )


async def test_direct_room_is_unique_per_pair_even_under_a_race(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)

    async def open_room(me: dict[str, Any], other: dict[str, Any]) -> httpx.Response:
        return await client.post(
            ROOMS, json={"type": "direct", "user_id": other["user"]["id"]}, headers=me["headers"]
        )

    responses = await asyncio.gather(*[
        open_room(alice, bob) if i % 2 else open_room(bob, alice) for i in range(8)
    ])
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    room = responses[0].json()
    assert room["type"] == "direct"
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_rooms") == 1
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_room_participants") == 2
    as_alice = (await client.get(f"{ROOMS}/{room['id']}", headers=alice["headers"])).json()
    assert as_alice["peer"]["id"] == bob["user"]["id"]

    # Exactly two: nobody joins or leaves a direct room.
    carol = await make_user(client)
    added = await client.post(f"{ROOMS}/{room['id']}/participants",
                              json={"user_id": carol["user"]["id"]}, headers=alice["headers"])
    assert added.status_code == 409
    left = await client.delete(f"{ROOMS}/{room['id']}/participants/{alice['user']['id']}",
                               headers=alice["headers"])
    assert left.status_code == 409
    # Oneself and unknown users are refused.
    assert (await open_room(alice, alice)).status_code == 422
    unknown = await client.post(ROOMS, json={"type": "direct", "user_id": "00000000-0000-0000-0000-000000000001"},
                                headers=alice["headers"])
    assert unknown.status_code == 404


async def test_group_room_membership_rules(client, owner_conn):
    admin, mod, member, outsider = [await make_user(client) for _ in range(4)]
    room = await group(client, admin, mod, member)
    rid = room["id"]
    assert room["my_role"] == "admin"

    # Outsiders see nothing; members may not manage.
    assert (await client.get(f"{ROOMS}/{rid}", headers=outsider["headers"])).status_code == 404
    assert (await client.get(f"{ROOMS}/{rid}/participants", headers=outsider["headers"])).status_code == 404
    renamed = await client.patch(f"{ROOMS}/{rid}", json={"name": "Mine"}, headers=member["headers"])
    assert renamed.status_code == 403
    added = await client.post(f"{ROOMS}/{rid}/participants", json={"user_id": outsider["user"]["id"]},
                              headers=member["headers"])
    assert added.status_code == 403

    # Admins change roles; a moderator may not.
    promoted = await client.patch(f"{ROOMS}/{rid}/participants/{mod['user']['id']}",
                                  json={"role": "moderator"}, headers=admin["headers"])
    assert promoted.status_code == 200 and promoted.json()["role"] == "moderator"
    refused = await client.patch(f"{ROOMS}/{rid}/participants/{member['user']['id']}",
                                 json={"role": "admin"}, headers=mod["headers"])
    assert refused.status_code == 403

    # Moderators remove members, not admins. (The outsider follows the admin: added, not
    # invited.)
    await follow(client, outsider, admin)
    added = await client.post(f"{ROOMS}/{rid}/participants", json={"user_id": outsider["user"]["id"]},
                              headers=admin["headers"])
    assert added.status_code == 201 and added.json()["role"] == "member"
    again = await client.post(f"{ROOMS}/{rid}/participants", json={"user_id": outsider["user"]["id"]},
                              headers=admin["headers"])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_participant"
    removed = await client.delete(f"{ROOMS}/{rid}/participants/{outsider['user']['id']}",
                                  headers=mod["headers"])
    assert removed.status_code == 204
    refused = await client.delete(f"{ROOMS}/{rid}/participants/{admin['user']['id']}",
                                  headers=mod["headers"])
    assert refused.status_code == 403
    refused = await client.delete(f"{ROOMS}/{rid}/participants/{mod['user']['id']}",
                                  headers=member["headers"])
    assert refused.status_code == 403

    # Admin renames and archives; an archived room takes no messages.
    patched = await client.patch(f"{ROOMS}/{rid}", json={"name": "Algebra", "is_active": False},
                                 headers=admin["headers"])
    assert patched.status_code == 200
    assert patched.json()["name"] == "Algebra" and patched.json()["is_active"] is False
    assert (await send(client, member, rid, "hello?")).status_code == 409
    await client.patch(f"{ROOMS}/{rid}", json={"is_active": True}, headers=admin["headers"])

    # The last admin leaves: the longest-standing remaining participant (the
    # moderator first) becomes admin. Join and leave post system messages.
    left = await client.delete(f"{ROOMS}/{rid}/participants/{admin['user']['id']}",
                               headers=admin["headers"])
    assert left.status_code == 204
    people = (await client.get(f"{ROOMS}/{rid}/participants", headers=member["headers"])).json()
    assert {p["user_id"]: p["role"] for p in people} == {
        mod["user"]["id"]: "admin", member["user"]["id"]: "member"}
    assert (await client.get(f"{ROOMS}/{rid}", headers=admin["headers"])).status_code == 404
    # A room keeps an admin: the only one cannot step down.
    demoted = await client.patch(f"{ROOMS}/{rid}/participants/{mod['user']['id']}",
                                 json={"role": "member"}, headers=mod["headers"])
    assert demoted.status_code == 409
    messages = (await client.get(f"{ROOMS}/{rid}/messages", headers=member["headers"])).json()["items"]
    system = [m["content"] for m in messages if m["message_type"] == "system"]
    u = lambda s: s["user"]["username"]  # noqa: E731
    assert system == [
        f"@{u(admin)} created the room", f"@{u(mod)} joined", f"@{u(member)} joined",
        f"@{u(outsider)} joined", f"@{u(outsider)} was removed", f"@{u(admin)} left",
    ]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))


async def test_sequences_have_no_gaps_and_sends_are_idempotent(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    await follow(client, bob, alice)  # a chat, not a message request he must accept first
    room = (await client.post(ROOMS, json={"type": "direct", "user_id": bob["user"]["id"]},
                              headers=alice["headers"])).json()
    rid = room["id"]

    sent = await asyncio.gather(*[
        send(client, alice if i % 2 else bob, rid, f"message {i}") for i in range(12)
    ])
    assert all(r.status_code == 201 for r in sent)
    assert sorted(r.json()["seq"] for r in sent) == list(range(1, 13))

    first = await send(client, alice, rid, "only once", idempotency_key="k-1")
    retries = await asyncio.gather(*[
        send(client, alice, rid, "only once", idempotency_key="k-1") for _ in range(4)
    ])
    assert first.status_code == 201
    assert all(r.status_code == 201 and r.json() == first.json() for r in retries)
    assert first.json()["seq"] == 13
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_messages WHERE idempotency_key = 'k-1'") == 1
    # The key of another message is refused, not answered with that message as if sent.
    upload = await client.post(f"{ROOMS}/{rid}/attachments", headers=alice["headers"],
                               files={"file": ("notes.txt", b"only once", "text/plain")})
    assert upload.status_code == 201, upload.text
    for reuse in ({"content": "something else"},
                  {"content": "only once", "message_type": "file", "file_id": upload.json()["id"]}):
        r = await client.post(f"{ROOMS}/{rid}/messages", headers=alice["headers"],
                              json={"idempotency_key": "k-1", **reuse})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "idempotency_key_reused"
        assert r.json()["error"]["details"] == {"message_id": first.json()["id"]}
    # The same key from another sender is another message.
    other = await send(client, bob, rid, "only once", idempotency_key="k-1")
    assert other.status_code == 201 and other.json()["seq"] == 14
    # A failed send (archived room) allocates nothing.
    seqs = await owner_conn.fetch("SELECT seq FROM chat_messages WHERE room_id = $1 ORDER BY seq", room["id"])
    assert [r["seq"] for r in seqs] == list(range(1, 15))
    events = await owner_conn.fetch(
        "SELECT seq FROM chat_room_events WHERE room_id = $1 ORDER BY seq", room["id"])
    assert [r["seq"] for r in events] == list(range(1, len(events) + 1))

    # Paging by seq, always ascending within a page.
    page = (await client.get(f"{ROOMS}/{rid}/messages?limit=5", headers=bob["headers"])).json()
    assert [m["seq"] for m in page["items"]] == [10, 11, 12, 13, 14]
    assert page["next_cursor"] == "10"
    page = (await client.get(f"{ROOMS}/{rid}/messages?limit=5&before=10", headers=bob["headers"])).json()
    assert [m["seq"] for m in page["items"]] == [5, 6, 7, 8, 9]
    page = (await client.get(f"{ROOMS}/{rid}/messages?limit=5&after=11", headers=bob["headers"])).json()
    assert [m["seq"] for m in page["items"]] == [12, 13, 14] and page["next_cursor"] is None
    # A position beyond PostgreSQL's bigint is the caller's mistake, not a server error.
    for bad in ("after=9223372036854775808", "before=9223372036854775808", "after=-1"):
        r = await client.get(f"{ROOMS}/{rid}/messages?{bad}", headers=bob["headers"])
        assert r.status_code == 422, (bad, r.text)


async def test_message_validation_edit_and_delete(client, owner_conn):
    alice, bob, eve = [await make_user(client) for _ in range(3)]
    rid = (await group(client, alice, bob))["id"]
    assert (await send(client, alice, rid, "x" * 10_001)).status_code == 422
    assert (await send(client, alice, rid, "x" * 10_000)).status_code == 201
    assert (await send(client, alice, rid, "   ")).status_code == 422
    # A client-chosen URL is not a file any more: files are uploaded as attachments.
    bad = await send(client, alice, rid, "notes", message_type="file",
                     file_url="https://files.example.org/a.pdf")
    assert bad.status_code == 422
    assert (await send(client, alice, rid, "notes", message_type="file")).status_code == 422
    stranger = await send(client, alice, rid, "notes", message_type="file",
                          file_id="7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22")
    assert stranger.status_code == 404  # not an attachment of hers in this room
    assert (await send(client, alice, rid, "hi", message_type="system")).status_code == 422
    assert (await send(client, alice, rid, "hi", sender_id=bob["user"]["id"])).status_code == 422
    assert (await send(client, eve, rid, "let me in")).status_code == 404

    script = await send(client, bob, rid, "<script>alert(1)</script>")
    assert script.headers["content-type"] == "application/json"
    assert script.json()["content"] == "<script>alert(1)</script>"
    mid = script.json()["id"]

    assert (await client.patch(f"{ROOMS}/{rid}/messages/{mid}", json={"content": "mine now"},
                               headers=alice["headers"])).status_code == 403
    for blank in ("", "   ", "\n\t"):  # refused as when sent
        refused = await client.patch(f"{ROOMS}/{rid}/messages/{mid}", json={"content": blank},
                                     headers=bob["headers"])
        assert refused.status_code == 422, refused.text
    edited = await client.patch(f"{ROOMS}/{rid}/messages/{mid}", json={"content": "fixed"},
                                headers=bob["headers"])
    assert edited.status_code == 200
    assert edited.json()["content"] == "fixed" and edited.json()["edited_at"] is not None
    assert (await client.delete(f"{ROOMS}/{rid}/messages/{mid}", headers=eve["headers"])).status_code == 404
    deleted = await client.delete(f"{ROOMS}/{rid}/messages/{mid}", headers=bob["headers"])
    assert deleted.status_code == 200
    body = deleted.json()
    assert body["content"] == "" and body["deleted_at"] is not None and body["seq"] == script.json()["seq"]
    again = await client.patch(f"{ROOMS}/{rid}/messages/{mid}", json={"content": "back"},
                               headers=bob["headers"])
    assert again.status_code == 409
    row = await owner_conn.fetchrow("SELECT content, deleted_at FROM chat_messages WHERE id = $1", mid)
    assert row["content"] == "" and row["deleted_at"] is not None

    export = await client.get(f"{ROOMS}/{rid}/export", headers=bob["headers"])
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/plain")
    assert "(message deleted)" in export.text
    assert (await client.get(f"{ROOMS}/{rid}/export", headers=eve["headers"])).status_code == 404


async def test_an_export_longer_than_a_page_comes_whole_and_in_order(client, monkeypatch):
    """The history is sent as it is read, a page per transaction (chat.service.EXPORT_PAGE):
    every message once, in order, up to the last one when the export began."""
    from focushub.chat import service as chat_service

    monkeypatch.setattr(chat_service, "EXPORT_PAGE", 3)
    alice, bob = await make_user(client), await make_user(client)
    rid = (await group(client, alice, bob, name="Long"))["id"]
    for n in range(8):
        r = await client.post(f"{ROOMS}/{rid}/messages", json={"content": f"line {n}"},
                              headers=alice["headers"] if n % 2 else bob["headers"])
        assert r.status_code == 201, r.text
    export = await client.get(f"{ROOMS}/{rid}/export", headers=bob["headers"])
    assert export.status_code == 200
    assert export.headers["content-disposition"] == f'attachment; filename="chat-{rid}.txt"'
    lines = [line for line in export.text.splitlines() if "line " in line]
    assert [line.rsplit(": ", 1)[1] for line in lines] == [f"line {n}" for n in range(8)]
    assert export.text.startswith("# Long\n# Exported ")


async def test_unread_counts_read_positions_and_room_list(client, engine, owner_conn):
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    await follow(client, bob, alice)  # a chat, not a message request he must accept first
    direct = (await client.post(ROOMS, json={"type": "direct", "user_id": bob["user"]["id"]},
                                headers=alice["headers"])).json()
    study = await group(client, carol, alice, bob, name="Study")
    for i in range(3):
        await send(client, bob, direct["id"], f"ping {i}")
    mine = await send(client, alice, direct["id"], "pong")
    assert mine.json()["is_read"] is False

    rooms = await client.get(ROOMS, headers=alice["headers"])
    assert rooms.status_code == 200
    items = rooms.json()["items"]
    assert [r["id"] for r in items] == [direct["id"], study["id"]]
    assert items[0]["unread_count"] == 3
    assert items[0]["last_message"]["content"] == "pong"
    assert items[1]["unread_count"] == 0  # system messages do not count

    # Newest activity first.
    await send(client, carol, study["id"], "homework?")
    items = (await client.get(ROOMS, headers=alice["headers"])).json()["items"]
    assert [r["id"] for r in items] == [study["id"], direct["id"]]
    assert items[0]["unread_count"] == 1

    # Fixed number of queries whatever the number of rooms: role switch + one statement.
    for i in range(3):
        await group(client, carol, alice, name=f"Extra {i}")
    with count_queries(engine) as log:
        listed = await client.get(ROOMS, headers=alice["headers"])
    assert len(listed.json()["items"]) == 5
    assert log.count == 2, log.statements

    # Reading moves forward only; bob's "read" makes alice's message read.
    read = await client.post(f"{ROOMS}/{direct['id']}/read", json={"seq": 2}, headers=alice["headers"])
    assert read.json() == {"room_id": direct["id"], "last_read_seq": 2, "unread_count": 1}
    read = await client.post(f"{ROOMS}/{direct['id']}/read", json={"seq": 1}, headers=alice["headers"])
    assert read.json()["last_read_seq"] == 2
    read = await client.post(f"{ROOMS}/{direct['id']}/read", json={}, headers=alice["headers"])
    assert read.json() == {"room_id": direct["id"], "last_read_seq": 4, "unread_count": 0}
    read = await client.post(f"{ROOMS}/{direct['id']}/read", json={"seq": 999}, headers=bob["headers"])
    assert read.json()["last_read_seq"] == 4
    msgs = (await client.get(f"{ROOMS}/{direct['id']}/messages", headers=alice["headers"])).json()["items"]
    assert all(m["is_read"] for m in msgs)
    outsider = await client.post(f"{ROOMS}/{direct['id']}/read", json={}, headers=carol["headers"])
    assert outsider.status_code == 404
    stored = await owner_conn.fetchval(
        "SELECT last_read_seq FROM chat_room_participants WHERE room_id = $1 AND user_id = $2",
        direct["id"], alice["user"]["id"])
    assert stored == 4


async def test_room_list_pages_with_a_cursor(client):
    alice = await make_user(client)
    for i in range(3):
        await group(client, alice, name=f"Room {i}")
    first = (await client.get(f"{ROOMS}?limit=2", headers=alice["headers"])).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (await client.get(f"{ROOMS}?limit=2&cursor={first['next_cursor']}",
                               headers=alice["headers"])).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert [r["name"] for r in first["items"] + second["items"]] == ["Room 2", "Room 1", "Room 0"]
    assert (await client.get(f"{ROOMS}?cursor=nope", headers=alice["headers"])).status_code == 400
    assert (await client.get(ROOMS)).status_code == 401


async def test_someone_joining_a_group_starts_with_its_history_read(client):
    admin, early = await make_user(client), await make_user(client)
    room = await group(client, admin, early)
    for n in range(3):
        assert (await send(client, admin, room["id"], f"before {n}")).status_code == 201

    async def unread(user: dict[str, Any], room_id: str) -> int:
        rooms = (await client.get(ROOMS, headers=user["headers"])).json()["items"]
        return next(r["unread_count"] for r in rooms if r["id"] == room_id)

    assert await unread(early, room["id"]) == 3
    late = await make_user(client)
    await follow(client, late, admin)
    r = await client.post(f"{ROOMS}/{room['id']}/participants", headers=admin["headers"],
                          json={"user_id": late["user"]["id"]})
    assert r.status_code == 201
    assert await unread(late, room["id"]) == 0
    await send(client, admin, room["id"], "after")
    assert await unread(late, room["id"]) == 1
    assert await unread(early, room["id"]) == 4  # the others' positions are their own
    # A direct chat's other person still has its messages to read.
    other = await make_user(client)
    await follow(client, other, admin)
    r = await client.post(ROOMS, headers=admin["headers"],
                          json={"type": "direct", "user_id": other["user"]["id"]})
    await send(client, admin, r.json()["id"], "hi")
    assert await unread(other, r.json()["id"]) == 1
