"""Presence is per connection and per room: a connection that stops following a room, or is
removed from it, is "offline" there for the others, as one that closes is."""

from __future__ import annotations

from tests.api.conftest import make_user
from tests.realtime.conftest import ready_ws
from tests.realtime.test_gateway import ROOMS, group


def presence_of(user, status):
    return lambda f: (f["type"] == "presence" and f["user_id"] == user["user"]["id"]
                      and f["status"] == status)


async def test_a_connection_that_leaves_a_room_is_offline_there(live_server, http):
    alice, bob, carol = [await make_user(http) for _ in range(3)]
    room = await group(http, alice, bob, carol)
    ws_alice = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice.subscribe(room["id"])
    ws_bob = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws_bob.subscribe(room["id"])
    ws_carol = await ready_ws(live_server.ws_url, carol["access_token"])
    await ws_carol.subscribe(room["id"])
    bob_online = (await ws_alice.recv_until(presence_of(bob, "online")))[-1]
    carol_online = (await ws_alice.recv_until(presence_of(carol, "online")))[-1]

    # Bob stops following the room (his socket stays open, for his other rooms).
    await ws_bob.send({"type": "unsubscribe", "room_id": room["id"]})
    await ws_bob.recv_until(lambda f: f["type"] == "unsubscribed")
    offline = (await ws_alice.recv_until(presence_of(bob, "offline")))[-1]
    assert offline["connection_id"] == bob_online["connection_id"]
    assert offline["room_id"] == room["id"] and offline["last_seen_at"]

    # Carol is removed by the admin: gone from the room, offline there.
    removed = await http.delete(f"{ROOMS}/{room['id']}/participants/{carol['user']['id']}",
                                headers=alice["headers"])
    assert removed.status_code == 204, removed.text
    await ws_carol.recv_until(lambda f: f["type"] == "unsubscribed")
    offline = (await ws_alice.recv_until(presence_of(carol, "offline")))[-1]
    assert offline["connection_id"] == carol_online["connection_id"]
    for ws in (ws_alice, ws_bob, ws_carol):
        await ws.close()


def typing_of(user):
    return lambda f: f["type"] == "typing" and f["user_id"] == user["user"]["id"]


async def online_seen(ws, *users):
    """Read until each of ``users`` has been heard online (in any order)."""
    waiting = {u["user"]["id"] for u in users}
    while waiting:
        frame = await ws.recv()
        if frame["type"] == "presence" and frame["status"] == "online":
            waiting.discard(frame["user_id"])


async def test_typing_and_presence_do_not_cross_a_block_and_the_blocked_is_not_told(
        live_server, http):
    alice, bob, carol = [await make_user(http) for _ in range(3)]
    room = await group(http, alice, bob, carol)
    ws_alice = await ready_ws(live_server.ws_url, alice["access_token"])
    await ws_alice.subscribe(room["id"])
    ws_bob = await ready_ws(live_server.ws_url, bob["access_token"])
    await ws_bob.subscribe(room["id"])
    ws_carol = await ready_ws(live_server.ws_url, carol["access_token"])
    await ws_carol.subscribe(room["id"])
    await online_seen(ws_alice, bob, carol)
    await online_seen(ws_bob, alice, carol)
    await online_seen(ws_carol, alice, bob)

    # Bob blocks alice while all three are in the room.
    r = await http.put(f"/api/v1/users/{alice['user']['id']}/block", headers=bob["headers"])
    assert r.status_code == 204
    await ws_bob.send({"type": "typing", "room_id": room["id"]})
    await ws_carol.recv_until(typing_of(bob))  # published, in the room's order
    await ws_carol.send({"type": "typing", "room_id": room["id"]})
    heard = await ws_alice.recv_until(typing_of(carol))
    assert not [f for f in heard if f.get("user_id") == bob["user"]["id"]], heard
    # Alice's signals do not reach bob either, and nothing told him of the block. A second
    # socket of carol's is the marker (a connection's typing goes out once a second).
    await ws_alice.send({"type": "typing", "room_id": room["id"]})
    await ws_carol.recv_until(typing_of(alice))
    marker = await ready_ws(live_server.ws_url, carol["access_token"])
    await marker.subscribe(room["id"])
    await marker.send({"type": "typing", "room_id": room["id"]})
    heard = await ws_bob.recv_until(typing_of(carol))
    assert not [f for f in heard if f.get("user_id") == alice["user"]["id"]], heard
    assert not [f for f in heard if f["type"].startswith("block")], heard
    # Alice heard the marker come online, but no presence of bob's answering it.
    heard = await ws_alice.recv_until(typing_of(carol))
    assert not [f for f in heard if f.get("user_id") == bob["user"]["id"]], heard

    # Unblocked, they hear each other again.
    r = await http.delete(f"/api/v1/users/{alice['user']['id']}/block", headers=bob["headers"])
    assert r.status_code == 204
    await ws_alice.send({"type": "unsubscribe", "room_id": room["id"]})
    await ws_alice.recv_until(lambda f: f["type"] == "unsubscribed")
    await ws_alice.subscribe(room["id"])
    await online_seen(ws_alice, bob)  # bob answers alice's arrival again
    for ws in (ws_alice, ws_bob, ws_carol, marker):
        await ws.close()
