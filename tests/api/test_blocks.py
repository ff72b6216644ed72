"""Block and mute over HTTP: a blocked person cannot reach the blocker by any path and is
not told; a mute silences notifications and unread counts; a muted room counts nothing."""

from __future__ import annotations

import uuid

from tests.api.conftest import follow, make_user
from tests.api.factories_content import make_comment, make_post


async def block(client, who, target) -> None:
    r = await client.put(f"/api/v1/users/{target['user']['id']}/block", headers=who["headers"])
    assert r.status_code == 204, r.text


async def test_a_blocked_person_cannot_reach_the_blocker(client, owner_conn):
    alice, troll, friend = [await make_user(client) for _ in range(3)]
    post = await make_post(client, alice, content="My notes")
    troll_post = await make_post(client, troll)
    await client.put(f"/api/v1/users/{alice['user']['id']}/follow", headers=troll["headers"])
    r = await client.post("/api/v1/chat/rooms", headers=troll["headers"],
                          json={"user_id": alice["user"]["id"]})
    direct = r.json()["id"]
    await block(client, alice, troll)
    await block(client, alice, troll)  # twice changes nothing

    # Follows are gone both ways, and cannot come back.
    assert await owner_conn.fetchval("SELECT count(*) FROM followers") == 0
    r = await client.put(f"/api/v1/users/{alice['user']['id']}/follow", headers=troll["headers"])
    assert r.status_code == 404
    # Her profile and her content are not there for him (404, as for nobody)...
    assert (await client.get(f"/api/v1/users/{alice['user']['id']}",
                             headers=troll["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/posts/{post['id']}", headers=troll["headers"])).status_code == 404
    r = await client.post(f"/api/v1/posts/{post['id']}/comments", headers=troll["headers"],
                          json={"content": "you again"})
    assert r.status_code == 404
    r = await client.get("/api/v1/search", params={"q": alice["user"]["username"], "type": "user"},
                         headers=troll["headers"])
    assert r.status_code == 200, r.text
    assert alice["user"]["id"] not in r.text
    r = await client.get("/api/v1/search", params={"q": alice["user"]["username"], "type": "user"},
                         headers=friend["headers"])
    assert alice["user"]["id"] in r.text
    for path in ("followers", "following", "follow"):  # nor whom she follows, or who her
        r = await client.get(f"/api/v1/users/{alice['user']['id']}/{path}",
                             headers=troll["headers"])
        assert r.status_code == 404, (path, r.text)
    # ...no message, no new room, no adding her to a group.
    r = await client.post(f"/api/v1/chat/rooms/{direct}/messages", headers=troll["headers"],
                          json={"content": "answer me"})
    assert r.status_code == 404
    r = await client.post("/api/v1/chat/rooms", headers=troll["headers"],
                          json={"name": "Gang", "member_ids": [alice["user"]["id"]]})
    assert r.status_code == 404
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_rooms WHERE name = 'Gang'") == 0
    # A mention or a vote does not notify her.
    await make_post(client, troll, content=f"hey @{alice['user']['username']}")
    r = await client.get("/api/v1/notifications", headers=alice["headers"])
    assert [n for n in r.json()["items"] if n["type"] == "mention"] == []
    # She no longer sees his content either; others see both.
    assert (await client.get(f"/api/v1/posts/{troll_post['id']}",
                             headers=alice["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/posts/{troll_post['id']}",
                             headers=friend["headers"])).status_code == 200
    assert (await client.get(f"/api/v1/posts/{post['id']}", headers=friend["headers"])).status_code == 200
    # The block is private: he cannot list it; she can, and can lift it.
    r = await client.get("/api/v1/users/me/blocks", headers=troll["headers"])
    assert r.json() == {"items": [], "next_cursor": None}
    r = await client.get("/api/v1/users/me/blocks", headers=alice["headers"])
    assert [b["user"]["id"] for b in r.json()["items"]] == [troll["user"]["id"]]
    r = await client.delete(f"/api/v1/users/{troll['user']['id']}/block", headers=alice["headers"])
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/posts/{post['id']}", headers=troll["headers"])).status_code == 200
    await make_comment(client, troll, post["id"])


async def test_blocking_oneself_or_nobody(client):
    alice = await make_user(client)
    r = await client.put(f"/api/v1/users/{alice['user']['id']}/block", headers=alice["headers"])
    assert r.status_code == 422
    r = await client.put("/api/v1/users/00000000-0000-0000-0000-000000000000/block",
                         headers=alice["headers"])
    assert r.status_code == 404
    r = await client.put(f"/api/v1/users/{alice['user']['id']}/block")
    assert r.status_code == 401


async def test_mutes_silence_notifications_and_unread_counts(client):
    alice, chatty, other = [await make_user(client) for _ in range(3)]
    post = await make_post(client, alice)
    r = await client.put(f"/api/v1/users/{chatty['user']['id']}/mute", headers=alice["headers"])
    assert r.status_code == 204
    await make_comment(client, chatty, post["id"])
    r = await client.get("/api/v1/notifications", headers=alice["headers"])
    assert r.json()["items"] == []
    # Their content is still there.
    r = await client.get(f"/api/v1/posts/{post['id']}/comments", headers=alice["headers"])
    assert len(r.json()["items"]) == 1
    await follow(client, chatty, alice)  # so that Alice adds them rather than invites them
    await follow(client, other, alice)
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"name": "Study", "member_ids": [chatty["user"]["id"],
                                                                other["user"]["id"]]})
    room = r.json()["id"]
    for who in (chatty, chatty, other):
        await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=who["headers"],
                          json={"content": "hi"})
    r = await client.get(f"/api/v1/chat/rooms/{room}", headers=alice["headers"])
    assert (r.json()["unread_count"], r.json()["muted"]) == (1, False)
    r = await client.put(f"/api/v1/chat/rooms/{room}/mute", headers=alice["headers"])
    assert r.status_code == 204
    r = await client.get(f"/api/v1/chat/rooms/{room}", headers=alice["headers"])
    assert (r.json()["unread_count"], r.json()["muted"]) == (0, True)
    r = await client.put(f"/api/v1/chat/rooms/{room}/mute", headers=(await make_user(client))["headers"])
    assert r.status_code == 404  # not one's room
    await client.delete(f"/api/v1/chat/rooms/{room}/mute", headers=alice["headers"])
    await client.delete(f"/api/v1/users/{chatty['user']['id']}/mute", headers=alice["headers"])
    r = await client.get(f"/api/v1/chat/rooms/{room}", headers=alice["headers"])
    assert (r.json()["unread_count"], r.json()["muted"]) == (3, False)


async def test_blocks_and_mutes_page_like_every_list(client, owner_conn):
    """More than one page of blocks (and of mutes) is reachable by its cursors, newest first,
    each person once, including those blocked in one same instant; a cursor of another list
    or of nothing is a 400."""
    alice = await make_user(client)
    people = [await make_user(client) for _ in range(5)]
    for relation in ("block", "mute"):
        for person in people:
            r = await client.put(f"/api/v1/users/{person['user']['id']}/{relation}",
                                 headers=alice["headers"])
            assert r.status_code == 204, r.text
    # Three of the blocks share one instant: the key's second part orders them.
    await owner_conn.execute(
        "UPDATE user_blocks SET created_at = '2026-01-01T00:00:00Z' WHERE blocked_id = ANY($1)",
        [uuid.UUID(p["user"]["id"]) for p in people[1:4]])
    for relation, path in (("block", "blocks"), ("mute", "mutes")):
        seen, cursor = [], None
        for _ in range(3):
            r = await client.get(f"/api/v1/users/me/{path}", headers=alice["headers"],
                                 params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) <= 2
            seen += [b["user"]["id"] for b in r.json()["items"]]
            cursor = r.json()["next_cursor"]
        assert cursor is None
        assert sorted(seen) == sorted(p["user"]["id"] for p in people), relation
        times = [b["created_at"] for b in (await client.get(
            f"/api/v1/users/me/{path}", headers=alice["headers"])).json()["items"]]
        assert times == sorted(times, reverse=True)
    mutes_cursor = (await client.get("/api/v1/users/me/mutes", headers=alice["headers"],
                                     params={"limit": 2})).json()["next_cursor"]
    for cursor in (mutes_cursor, "garbage"):
        r = await client.get("/api/v1/users/me/blocks", headers=alice["headers"],
                             params={"cursor": cursor})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_cursor"
    for limit in (0, 101):
        r = await client.get("/api/v1/users/me/mutes", headers=alice["headers"],
                             params={"limit": limit})
        assert r.status_code == 422, r.text
    assert (await client.get("/api/v1/users/me/blocks")).status_code == 401
