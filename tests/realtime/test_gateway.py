"""The WebSocket gateway against a real server: auth, events, resume, removal, back-pressure."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import types
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from focushub.core.errors import database_unavailable
from focushub.core.middleware import BodyLimitMiddleware
from focushub.core.observability import RequestContextMiddleware
from focushub.realtime import gateway
from focushub.realtime.router import RealtimeEntrance
from tests.api.conftest import admin_of, follow, make_user
from tests.realtime.conftest import TIMEOUT, open_ws, ready_ws

ROOMS = "/api/v1/chat/rooms"


async def group(http, owner, *members, name="Room") -> dict[str, Any]:
    """A group with ``members`` in it (they follow ``owner`` first: added, not invited)."""
    for member in members:
        await follow(http, member, owner)
    response = await http.post(ROOMS, json={"type": "group", "name": name,
                                            "member_ids": [m["user"]["id"] for m in members]},
                               headers=owner["headers"])
    assert response.status_code == 201, response.text
    return response.json()


async def send(http, user, room_id, content, **extra) -> dict[str, Any]:
    response = await http.post(f"{ROOMS}/{room_id}/messages", json={"content": content, **extra},
                               headers=user["headers"])
    assert response.status_code == 201, response.text
    return response.json()


def is_message(content: str):
    return lambda f: f["type"] == "message.created" and f["data"]["content"] == content


async def test_authentication_by_query_or_first_frame(live_server, http):
    alice = await make_user(http)
    ws = await open_ws(live_server.ws_url, "not-a-token")
    error = await ws.recv()
    assert error["type"] == "error" and error["code"] == "invalid_token"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd.code == gateway.CLOSE_UNAUTHORIZED

    ws = await open_ws(live_server.ws_url)
    await ws.send({"type": "auth", "access_token": alice["access_token"]})
    assert await ws.recv() == {"type": "ready", "user_id": alice["user"]["id"]}
    await ws.close()

    ws = await open_ws(live_server.ws_url)
    await ws.send({"type": "subscribe", "room_id": "x"})
    assert (await ws.recv())["code"] == "not_authenticated"
    with pytest.raises(ConnectionClosed):
        await ws.recv()


async def test_events_flow_and_malformed_frames_keep_the_socket_open(live_server, http):
    alice, bob, eve = [await make_user(http) for _ in range(3)]
    room = await group(http, alice, bob)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    subscribed = await ws.subscribe(room["id"])
    assert subscribed["type"] == "subscribed" and subscribed["seq"] == room["last_event_seq"]

    await ws.send("this is not json")
    assert (await ws.recv())["code"] == "malformed_frame"
    await ws.send({"no": "type"})
    assert (await ws.recv())["code"] == "malformed_frame"
    await ws.send({"type": "subscribe", "room_id": "nope"})
    assert (await ws.recv())["code"] == "invalid_room_id"
    await ws.send({"type": "message.send", "room_id": room["id"], "content": "x" * 10_001})
    assert (await ws.recv())["code"] == "validation_error"
    await ws.send("x" * (gateway.MAX_FRAME_CHARS + 1))
    assert (await ws.recv())["code"] == "frame_too_large"
    await ws.send({"type": "ping"})
    assert (await ws.recv()) == {"type": "pong"}

    # Someone else's room is refused.
    eve_room = await group(http, eve, name="Private")
    refused = await ws.subscribe(eve_room["id"])
    assert refused["type"] == "error" and refused["code"] == "not_a_member"

    # REST writes arrive as numbered room events.
    sent = await send(http, alice, room["id"], "hello <b>bob</b>")
    frames = await ws.recv_until(is_message("hello <b>bob</b>"))
    created = frames[-1]
    assert created["seq"] == subscribed["seq"] + 1
    assert created["data"]["id"] == sent["id"] and created["data"]["seq"] == sent["seq"]
    await http.patch(f"{ROOMS}/{room['id']}/messages/{sent['id']}", json={"content": "edited"},
                     headers=alice["headers"])
    updated = await ws.recv_until(lambda f: f["type"] == "message.updated")
    assert updated[-1]["data"]["content"] == "edited" and updated[-1]["seq"] == created["seq"] + 1
    await http.delete(f"{ROOMS}/{room['id']}/messages/{sent['id']}", headers=alice["headers"])
    deleted = (await ws.recv_until(lambda f: f["type"] == "message.deleted"))[-1]
    assert deleted["data"]["content"] == "" and deleted["data"]["deleted_at"]
    await http.patch(f"{ROOMS}/{room['id']}", json={"name": "Renamed"}, headers=alice["headers"])
    renamed = (await ws.recv_until(lambda f: f["type"] == "room.updated"))[-1]
    assert renamed["data"]["name"] == "Renamed"
    await http.post(f"{ROOMS}/{room['id']}/read", json={}, headers=alice["headers"])
    read = (await ws.recv_until(lambda f: f["type"] == "read.updated"))[-1]
    assert read["data"] == {"room_id": room["id"], "user_id": alice["user"]["id"],
                            "last_read_seq": sent["seq"]}

    # A rolled-back send (archived room) emits nothing and uses no number.
    await http.patch(f"{ROOMS}/{room['id']}", json={"is_active": False}, headers=alice["headers"])
    archived = (await ws.recv_until(lambda f: f["type"] == "room.updated"))[-1]
    failed = await http.post(f"{ROOMS}/{room['id']}/messages", json={"content": "lost"},
                             headers=alice["headers"])
    assert failed.status_code == 409
    await http.patch(f"{ROOMS}/{room['id']}", json={"is_active": True}, headers=alice["headers"])
    reopened = await ws.recv()
    assert reopened["type"] == "room.updated" and reopened["seq"] == archived["seq"] + 1

    # Sending over the socket: same rules, reply plus the room event.
    await ws.send({"type": "message.send", "room_id": room["id"], "content": "from ws",
                   "idempotency_key": "ws-1", "request_id": "r1"})
    frames = await ws.recv_until(lambda f: f["type"] == "message.sent")
    assert frames[-1]["request_id"] == "r1" and frames[-1]["data"]["content"] == "from ws"
    if not any(f["type"] == "message.created" for f in frames):
        await ws.recv_until(is_message("from ws"))
    await ws.close()


async def test_typing_and_presence_are_ephemeral(live_server, http, owner_conn):
    alice, bob = await make_user(http), await make_user(http)
    room = (await http.post(ROOMS, json={"type": "direct", "user_id": bob["user"]["id"]},
                            headers=alice["headers"])).json()
    ws_bob = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws_bob.subscribe(room["id"])
    ws_alice = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice.subscribe(room["id"])
    online = (await ws_bob.recv_until(lambda f: f["type"] == "presence"))[-1]
    assert online["user_id"] == alice["user"]["id"] and online["status"] == "online"
    # Bob was there first: alice learns it from bob's answer to her "online" (or from
    # bob's own announcement, when it reaches her after her subscription).
    seen = (await ws_alice.recv_until(lambda f: f["type"] == "presence"))[-1]
    assert seen["user_id"] == bob["user"]["id"] and seen["status"] == "online"
    await ws_alice.send({"type": "typing", "room_id": room["id"]})
    typing = (await ws_bob.recv_until(lambda f: f["type"] == "typing"))[-1]
    assert typing == {"type": "typing", "room_id": room["id"], "user_id": alice["user"]["id"]}
    events_before = await owner_conn.fetchval("SELECT count(*) FROM chat_room_events")
    # A second tab of alice's: presence is per connection, so closing one tab tells bob
    # which connection left, and alice's other connection is still known online.
    ws_alice_tab = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice_tab.subscribe(room["id"])
    tab_online = (await ws_bob.recv_until(
        lambda f: f["type"] == "presence" and f["connection_id"] != online["connection_id"]))[-1]
    assert tab_online["user_id"] == alice["user"]["id"] and tab_online["status"] == "online"
    await ws_alice.close()
    offline = (await ws_bob.recv_until(lambda f: f["type"] == "presence" and f["status"] == "offline"))[-1]
    assert offline["user_id"] == alice["user"]["id"] and offline["last_seen_at"]
    assert offline["connection_id"] == online["connection_id"]
    assert offline["connection_id"] != tab_online["connection_id"]
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_room_events") == events_before
    await ws_alice_tab.close()
    await ws_bob.close()


async def test_a_flood_of_typing_signals_reaches_the_room_as_one_a_second(live_server, http):
    """A socket sending typing signals in a loop: each was a NOTIFY and a frame to every
    other socket in the room (300 sent, 300 received), a cheap way to flood a class-sized
    room and overflow its members' queues (4008)."""
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws_bob = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws_bob.subscribe(room["id"])
    ws_alice = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice.subscribe(room["id"])
    await ws_bob.recv_until(lambda f: f["type"] == "presence")
    started = time.monotonic()
    for _ in range(300):
        await ws_alice.send({"type": "typing", "room_id": room["id"]})
    await ws_alice.send({"type": "ping"})
    await ws_alice.recv_until(lambda f: f["type"] == "pong")  # every signal was handled
    seconds = time.monotonic() - started
    await send(http, alice, room["id"], "done typing")
    frames = await ws_bob.recv_until(is_message("done typing"))
    typing = [f for f in frames if f["type"] == "typing"]
    # One signal, and one more for every TYPING_INTERVAL_SECONDS the loop took.
    assert 1 <= len(typing) <= 1 + int(seconds / gateway.TYPING_INTERVAL_SECONDS) + 1
    await ws_alice.close()
    await ws_bob.close()


async def test_presence_in_a_class_sized_room_costs_each_socket_one_frame_per_peer(live_server, http):
    """Everyone learns of everyone once: from their "online" if they came later, from their
    echo if they were there first. Echoes go to the newcomer's connection alone; sent to the
    whole room, a class arriving together overflowed the sockets' queues (closed 4008)."""
    owner = await make_user(http)
    members = [await make_user(http) for _ in range(11)]
    room = await group(http, owner, *members, name="Class")
    people = [owner, *members]
    sockets, frames = [], []
    for j, person in enumerate(people):
        ws = await ready_ws(live_server.ws_url, person["access_token"])
        await ws.send({"type": "subscribe", "room_id": room["id"]})
        frames.append(await ws.recv_until(lambda f: f["type"] in ("subscribed", "error")))
        assert frames[j][-1]["type"] == "subscribed"
        sockets.append(ws)
        for i in range(j):  # the earlier ones hear of the newcomer before the next one comes
            frames[i] += await sockets[i].recv_until(
                lambda f, uid=person["user"]["id"]: f["type"] == "presence" and f["user_id"] == uid)
    await send(http, owner, room["id"], "all here")
    for i, ws in enumerate(sockets):
        frames[i] += await ws.recv_until(is_message("all here"))
    for i, person in enumerate(people):
        presence = [f for f in frames[i] if f["type"] == "presence"]
        assert sorted(f["user_id"] for f in presence) == sorted(
            p["user"]["id"] for p in people if p is not person), f"socket {i}"
        assert {f["user_id"]: bool(f.get("echo")) for f in presence} == {
            p["user"]["id"]: k < i for k, p in enumerate(people) if p is not person}
        assert not any("for_connection" in f for f in presence)
    for ws in sockets:
        await ws.close()


async def test_resume_after_disconnect_loses_nothing_and_repeats_nothing(live_server, http):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.subscribe(room["id"])
    await send(http, alice, room["id"], "one")
    last = (await ws.recv_until(is_message("one")))[-1]["seq"]
    await ws.close()

    # Missed while away, including one message too big to travel inline on NOTIFY.
    for text in ("two", "three", "é" * 9000):
        await send(http, alice, room["id"], text)

    ws = await ready_ws(live_server.ws_url, bob["access_token"])

    async def resume() -> dict[str, Any]:
        return await ws.subscribe(room["id"], last_seq=last)

    async def keep_sending() -> None:
        for i in range(6):
            await send(http, alice, room["id"], f"live {i}")

    subscribed, _ = await asyncio.gather(resume(), keep_sending())
    assert subscribed["from_seq"] == last
    frames = await ws.recv_until(is_message("live 5"))
    events = [f for f in frames if "seq" in f]
    seqs = [f["seq"] for f in events]
    assert seqs == list(range(last + 1, last + 1 + len(seqs)))
    contents = [f["data"]["content"] for f in events if f["type"] == "message.created"]
    assert contents == ["two", "three", "é" * 9000] + [f"live {i}" for i in range(6)]
    await ws.close()


async def test_resume_replays_everything_across_several_pages(live_server, http, monkeypatch):
    """The replay reads stored events a page at a time: nothing is lost past the first page."""
    monkeypatch.setattr(gateway, "REPLAY_PAGE", 3)
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    for i in range(11):
        await send(http, alice, room["id"], f"m{i}")
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.subscribe(room["id"], last_seq=0)
    frames = await ws.recv_until(is_message("m10"))
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [f["data"]["content"] for f in frames if f["type"] == "message.created"][-11:] == [
        f"m{i}" for i in range(11)]
    await ws.close()


async def test_removed_participant_stops_receiving_at_once(live_server, http):
    alice, bob, carol = [await make_user(http) for _ in range(3)]
    room = await group(http, alice, bob, carol)
    ws_bob = await ready_ws(live_server.ws_url, bob["access_token"])
    ws_carol = await ready_ws(live_server.ws_url, carol["access_token"])
    await ws_bob.subscribe(room["id"])
    await ws_carol.subscribe(room["id"])

    removed = await http.delete(f"{ROOMS}/{room['id']}/participants/{bob['user']['id']}",
                                headers=alice["headers"])
    assert removed.status_code == 204
    frames = await ws_bob.recv_until(lambda f: f["type"] == "unsubscribed")
    assert frames[-1] == {"type": "unsubscribed", "room_id": room["id"], "reason": "removed"}
    assert [f["type"] for f in frames if "seq" in f][-1] == "participant.removed"

    await send(http, alice, room["id"], "after bob left")
    await ws_carol.recv_until(is_message("after bob left"))
    # Carol got it, so it was dispatched; bob's next frame is the answer to his ping.
    await ws_bob.send({"type": "ping"})
    assert await ws_bob.recv() == {"type": "pong"}
    again = await ws_bob.subscribe(room["id"])
    assert again["code"] == "not_a_member"
    await ws_bob.close()
    await ws_carol.close()


async def test_user_channel_gets_added_rooms_and_notifications(live_server, http):
    alice, bob = await make_user(http), await make_user(http)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    room = await group(http, alice, name="Later")
    await follow(http, bob, alice)
    added = await http.post(f"{ROOMS}/{room['id']}/participants", json={"user_id": bob["user"]["id"]},
                            headers=alice["headers"])
    assert added.status_code == 201
    event = (await ws.recv_until(lambda f: f["type"] == "participant.added"))[-1]
    assert event["room_id"] == room["id"] and event["data"]["user_id"] == bob["user"]["id"]

    followed = await http.put(f"/api/v1/users/{bob['user']['id']}/follow", headers=alice["headers"])
    assert followed.status_code == 200
    note = (await ws.recv_until(lambda f: f["type"] == "notification.created"))[-1]
    assert note["data"]["type"] == "follow"
    await ws.close()


async def test_a_notification_changed_without_news_is_updated_not_created(live_server, http):
    author, alice, carol = [await make_user(http) for _ in range(3)]
    r = await http.post("/api/v1/posts", headers=author["headers"],
                        json={"title": "Cells", "content": "Mitochondria notes"})
    post = r.json()
    ws = await ready_ws(live_server.ws_url, author["access_token"])
    r = await http.post(f"/api/v1/posts/{post['id']}/comments", headers=alice["headers"],
                        json={"content": "Great notes"})
    comment = r.json()
    created = (await ws.recv_until(lambda f: f["type"].startswith("notification.")))[-1]
    assert created["type"] == "notification.created"
    assert created["data"]["message"] == "Great notes"
    # Alice edits her words (0044 quotes them again): the same notification, no news.
    r = await http.patch(f"/api/v1/comments/{comment['id']}", headers=alice["headers"],
                         json={"content": "Great notes, thanks"})
    assert r.status_code == 200
    updated = (await ws.recv_until(lambda f: f["type"].startswith("notification.")))[-1]
    assert updated["type"] == "notification.updated"
    assert updated["data"]["id"] == created["data"]["id"]
    assert updated["data"]["message"] == "Great notes, thanks"
    assert updated["data"]["created_at"] == created["data"]["created_at"]
    # Carol comments too: another action joins it, which is news.
    await http.post(f"/api/v1/posts/{post['id']}/comments", headers=carol["headers"],
                    json={"content": "Same here"})
    joined = (await ws.recv_until(lambda f: f["type"].startswith("notification.")))[-1]
    assert joined["type"] == "notification.created"
    assert joined["data"]["id"] == created["data"]["id"] and joined["data"]["data"]["count"] == 2
    await ws.close()


async def test_an_invitee_is_told_live_and_a_request_recipient_is_not(live_server, http):
    alice, bob, stranger = [await make_user(http) for _ in range(3)]
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    # A stranger's direct chat: a request, not announced on bob's channel.
    request = await http.post(ROOMS, json={"type": "direct", "user_id": bob["user"]["id"]},
                              headers=stranger["headers"])
    assert request.status_code == 201
    # Alice (whom bob does not follow) adds him to her group: an invitation, told live.
    room = await group(http, alice, name="Study")
    invited = await http.post(f"{ROOMS}/{room['id']}/participants",
                              json={"user_id": bob["user"]["id"]}, headers=alice["headers"])
    assert invited.status_code == 202
    frames = await ws.recv_until(lambda f: f["type"] == "invitation.created")
    assert frames[-1] == {"type": "invitation.created", "room_id": room["id"],
                          "data": {"room_id": room["id"], "user_id": bob["user"]["id"]}}
    # Nothing about the request came before it (both were published in commit order).
    assert [f for f in frames if f.get("room_id") == request.json()["id"]] == []
    # Accepting makes him a member: now the room's participant.added reaches him.
    accepted = await http.post(f"/api/v1/chat/invitations/{room['id']}/accept",
                               headers=bob["headers"])
    assert accepted.status_code == 200
    event = (await ws.recv_until(lambda f: f["type"] == "participant.added"))[-1]
    assert event["room_id"] == room["id"] and event["data"]["user_id"] == bob["user"]["id"]
    await ws.close()


async def test_slow_consumer_is_closed_with_4008(live_server, http, monkeypatch):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws_alice = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice.subscribe(room["id"])
    monkeypatch.setattr(gateway, "QUEUE_SIZE", 2)  # bob's connection only
    # Bob reads nothing, through a tiny receive buffer, and his queue holds two events:
    # the server soon cannot keep up with him and cuts him off instead of holding anyone back.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live_server.base_url.rsplit(":", 1)[1])))
    ws = await open_ws(live_server.ws_url, bob["access_token"], sock=sock, max_queue=1)
    await ws.subscribe(room["id"])
    # 40 KB messages (4-byte characters, stubs on NOTIFY), ten at a time, until bob is cut off.
    (bob_connection,) = live_server.app.state.runtime.bus.hub.subscribers(f"user:{bob['user']['id']}")
    big = "\N{GRINNING FACE}" * 9990
    sent = 0
    while not bob_connection.closing:
        assert sent < 1000, "bob was never cut off"
        await asyncio.gather(*[send(http, alice, room["id"], f"{sent + i}:{big}") for i in range(10)])
        sent += 10
    # Alice, reading normally, gets everything.
    last = room["last_seq"] + sent
    frames = await ws_alice.recv_until(
        lambda f: f["type"] == "message.created" and f["data"]["seq"] == last)
    assert len([f for f in frames if f["type"] == "message.created"]) == sent
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(sent + 10):
            await ws.recv()
    assert closed.value.rcvd.code == gateway.CLOSE_SLOW_CONSUMER
    await ws_alice.close()


async def test_the_web_session_cookie_signs_in_only_from_this_site(live_server, http):
    alice = await make_user(http)
    host = live_server.base_url.removeprefix("http://")
    cookie = {"Cookie": f"fh_access={alice['access_token']}"}
    ws = await open_ws(live_server.ws_url, additional_headers={**cookie,
                                                               "Origin": f"http://{host}"})
    assert (await ws.recv())["type"] == "ready"
    await ws.close()
    # Another site's page rides the same cookie: refused (it must authenticate itself).
    ws = await open_ws(live_server.ws_url, additional_headers={**cookie,
                                                               "Origin": "http://evil.example"})
    await ws.send({"type": "subscribe", "room_id": "x"})
    assert (await ws.recv())["code"] == "not_authenticated"
    with pytest.raises(ConnectionClosed):
        await ws.recv()


def _scope_type(local_vars: dict[str, Any]) -> str | None:
    try:
        scope = local_vars.get("scope")
        return scope.get("type") if isinstance(scope, dict) else None
    except ReferenceError:  # a weak proxy of a finished test's object
        return None


async def test_an_open_socket_holds_no_http_layer(live_server, http):
    """A socket lives for hours: it goes to the gateway before the HTTP middleware and the
    router, so none of their frames stay alive for it, and it has a writer task only while
    it has something to send (each cost idle sockets memory)."""
    alice = await make_user(http)
    ws = await ready_ws(live_server.ws_url, alice["access_token"])
    try:
        await ws.send({"type": "ping"})
        assert (await ws.recv())["type"] == "pong"
        # The coroutines serving a WebSocket (the lifespan also runs through the layers).
        # type(), not isinstance(): the heap holds weak proxies of dead objects.
        serving = {c.cr_code for c in gc.get_objects()
                   if type(c) is types.CoroutineType and c.cr_frame is not None
                   and _scope_type(c.cr_frame.f_locals) == "websocket"}
        assert RealtimeEntrance.__call__.__code__ in serving  # the socket is served...
        for layer in (BodyLimitMiddleware, RequestContextMiddleware):
            assert layer.__call__.__code__ not in serving, layer  # ...with no HTTP layer
        # Nothing to send: no writer task either (one starts with the next frame).
        (connection,) = live_server.app.state.runtime.bus.hub.subscribers(
            f"user:{alice['user']['id']}")
        for _ in range(500):
            if connection._writer is None:
                break
            await asyncio.sleep(0.01)
        assert connection._writer is None and not connection.outbox
        await ws.send({"type": "ping"})
        assert (await ws.recv())["type"] == "pong"
    finally:
        await ws.close()


def _database_away_for(monkeypatch, times: int) -> list[int]:
    """The stored events cannot be read for the next ``times`` reads (the database away),
    then can again. Returns the list of refused reads, as it grows."""
    real = gateway.chat_service.room_events_after
    refused: list[int] = []

    async def flaky(*args, **kwargs):
        if len(refused) < times:
            refused.append(1)
            raise database_unavailable()
        return await real(*args, **kwargs)

    monkeypatch.setattr(gateway.chat_service, "room_events_after", flaky)
    monkeypatch.setattr(gateway, "DB_RETRY_DELAY", 0.05)
    return refused


async def test_an_event_waits_for_the_database_and_arrives_once(live_server, http, monkeypatch):
    """A message too large for NOTIFY is read back from the room's events; while the database
    cannot be read, the socket waits and tries again instead of being closed."""
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.subscribe(room["id"])
    refused = _database_away_for(monkeypatch, gateway.DB_RETRIES)
    await send(http, alice, room["id"], "é" * 9000)
    await send(http, alice, room["id"], "after")
    frames = await ws.recv_until(is_message("after"))
    events = [f for f in frames if f["type"] == "message.created"]
    assert [f["data"]["content"] for f in events] == ["é" * 9000, "after"]
    assert len(refused) == gateway.DB_RETRIES
    await ws.send({"type": "ping"})  # the same socket, still open
    assert (await ws.recv_until(lambda f: f["type"] == "pong"))[-1]["type"] == "pong"
    await ws.close()


async def test_a_database_away_for_longer_asks_the_socket_to_resume(live_server, http, monkeypatch):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    subscribed = await ws.subscribe(room["id"])
    _database_away_for(monkeypatch, gateway.DB_RETRIES + 1)
    await send(http, alice, room["id"], "é" * 9000)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(20):
            await ws.recv()
    assert closed.value.rcvd.code == gateway.CLOSE_TRY_AGAIN
    # Resuming from where it was gets the message.
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.subscribe(room["id"], last_seq=subscribed["seq"])
    frames = await ws.recv_until(is_message("é" * 9000))
    assert len([f for f in frames if f["type"] == "message.created"]) == 1
    await ws.close()


async def test_a_socket_whose_session_ended_is_closed_and_hears_nothing_more(
        live_server, http, monkeypatch):
    # Checked before every delivery here (in service, after SESSION_RECHECK_SECONDS).
    monkeypatch.setattr(gateway, "SESSION_RECHECK_SECONDS", 0.0)
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws.subscribe(room["id"])
    await send(http, alice, room["id"], "before")
    await ws.recv_until(is_message("before"))

    r = await http.post("/api/v1/auth/logout", json={"refresh_token": bob["refresh_token"]})
    assert r.status_code == 204, r.text
    await send(http, alice, room["id"], "after the logout")
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv_until(is_message("after the logout"))
    assert closed.value.rcvd.code == gateway.CLOSE_UNAUTHORIZED

    # A typing signal of an ended session reaches nobody either.
    carol = await make_user(http)
    other = await group(http, alice, carol, name="Other")
    ws_alice = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice.subscribe(other["id"])
    ws_carol = await ready_ws(live_server.ws_url, carol["access_token"])
    await ws_carol.subscribe(other["id"])
    await ws_alice.recv_until(lambda f: f["type"] == "presence" and f["status"] == "online")
    r = await http.post("/api/v1/auth/logout", json={"refresh_token": carol["refresh_token"]})
    assert r.status_code == 204, r.text
    with pytest.raises(ConnectionClosed):
        # The database's notice of the logout (0050) may have closed it already.
        await ws_carol.send({"type": "typing", "room_id": other["id"]})
        await ws_carol.recv_until(lambda f: False)
    await send(http, alice, other["id"], "carol left")  # alice hears this, and no typing first
    frames = await ws_alice.recv_until(is_message("carol left"))
    assert not [f for f in frames if f["type"] == "typing"]
    await ws_alice.close()


async def test_a_session_that_ends_closes_its_idle_socket_at_once(live_server, http, owner_conn):
    """The database says when a session may have ended (0050): the socket is closed at once,
    with no event to deliver and long before SESSION_RECHECK_SECONDS; the same person's other
    session keeps its socket until the account itself is deactivated."""
    assert gateway.SESSION_RECHECK_SECONDS > 3 * TIMEOUT  # the backstop is not what closes it
    bob = await make_user(http)
    r = await http.post("/api/v1/auth/login", json={"email": bob["user"]["email"],
                                                    "password": bob["password"]})
    assert r.status_code == 200, r.text
    laptop = await ready_ws(live_server.ws_url, bob["access_token"])
    phone = await ready_ws(live_server.ws_url, r.json()["access_token"])
    r = await http.post("/api/v1/auth/logout", json={"refresh_token": bob["refresh_token"]})
    assert r.status_code == 204, r.text
    with pytest.raises(ConnectionClosed) as closed:
        await laptop.recv_until(lambda f: False)
    assert closed.value.rcvd.code == gateway.CLOSE_UNAUTHORIZED
    await phone.send({"type": "ping"})
    await phone.recv_until(lambda f: f["type"] == "pong")  # the other session holds
    admin = await admin_of(http, owner_conn)
    r = await http.patch(f"/api/v1/admin/users/{bob['user']['id']}", headers=admin["headers"],
                         json={"is_active": False, "reason": "Spam"})
    assert r.status_code == 204, r.text
    with pytest.raises(ConnectionClosed) as closed:
        await phone.recv_until(lambda f: False)
    assert closed.value.rcvd.code == gateway.CLOSE_UNAUTHORIZED


async def test_subscribing_in_a_loop_is_held_to_a_budget(live_server, http, monkeypatch):
    """Each subscription reads the room's missed events and is announced to the room, whose
    every socket answers it: a socket subscribing and leaving in a loop is refused beyond
    its budget (rate_limited, the socket left open)."""
    monkeypatch.setattr(gateway, "SUBSCRIBE_BURST", 3)
    monkeypatch.setattr(gateway, "SUBSCRIBE_PER_SECOND", 0.01)
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    answers = []
    for _ in range(5):
        answers.append((await ws.subscribe(room["id"]))["type"])
        await ws.send({"type": "unsubscribe", "room_id": room["id"]})
        await ws.recv_until(lambda f: f["type"] in ("unsubscribed", "error"))
    assert answers == ["subscribed"] * 3 + ["error"] * 2
    await ws.send({"type": "subscribe", "room_id": room["id"]})
    refused = await ws.recv_until(lambda f: f["type"] == "error")
    assert refused[-1]["code"] == "rate_limited" and refused[-1]["retry_after_seconds"] > 0
    await ws.send({"type": "ping"})
    await ws.recv_until(lambda f: f["type"] == "pong")
    await ws.close()


async def test_an_account_holds_a_bounded_number_of_sockets(live_server, http, monkeypatch):
    monkeypatch.setattr(gateway, "MAX_SOCKETS_PER_USER", 2)
    alice, bob = await make_user(http), await make_user(http)
    first = await ready_ws(live_server.ws_url, alice["access_token"])
    second = await ready_ws(live_server.ws_url, alice["access_token"])
    third = await open_ws(live_server.ws_url, alice["access_token"])
    with pytest.raises(ConnectionClosed) as closed:
        await third.recv_until(lambda f: False)
    assert closed.value.rcvd.code == gateway.CLOSE_TOO_MANY
    other = await ready_ws(live_server.ws_url, bob["access_token"])  # another account: open
    await first.close()
    again = None
    for _ in range(100):  # a place comes free once the server has seen the first one go
        try:
            again = await ready_ws(live_server.ws_url, alice["access_token"])
            break
        except ConnectionClosed:
            await asyncio.sleep(0.05)
    assert again is not None
    for ws in (second, other, again):
        await ws.close()


async def test_the_longest_message_fits_a_frame_however_json_escapes_it(live_server, http):
    alice = await make_user(http)
    room = await group(http, alice, name="Long")
    ws = await ready_ws(live_server.ws_url, alice["access_token"])
    # 10,000 characters that JSON writes in 6 each (\u0001): 60,000 characters of frame.
    await ws.send({"type": "message.send", "room_id": room["id"], "content": "\x01" * 10_000,
                   "request_id": "long"})
    reply = (await ws.recv_until(lambda f: f.get("request_id") == "long"))[-1]
    assert reply["type"] == "message.sent", reply
    assert len(reply["data"]["content"]) == 10_000
    await ws.close()


async def test_a_frame_too_large_to_read_closes_the_socket_before_and_after_signing_in(
        live_server, http):
    alice = await make_user(http)
    big = "x" * (gateway.MAX_FRAME_BYTES + 1)
    ws = await open_ws(live_server.ws_url)  # not signed in: its first frame is too large
    await ws.send(big)
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd.code == 1009  # message too big: never held whole
    ws = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws.send("x" * (gateway.MAX_FRAME_CHARS + 1))  # over a frame's limit, not a read's
    assert (await ws.recv())["code"] == "frame_too_large"
    await ws.send(big)
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd.code == 1009
