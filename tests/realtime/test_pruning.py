"""Old room events are pruned by a job; a client resuming from before the cut is told to resync."""

from __future__ import annotations

from uuid import UUID

from tests.api.conftest import make_user
from tests.conftest import run_task
from tests.realtime.conftest import ready_ws
from tests.realtime.test_gateway import group, is_message, send


async def test_pruned_history_gives_a_resync_frame_then_the_rest(live_server, http, test_db,
                                                                 owner_conn):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    for i in range(4):
        await send(http, alice, room["id"], f"m{i}")
    last = await owner_conn.fetchval(
        "SELECT last_event_seq FROM chat_rooms WHERE id = $1", UUID(room["id"]))
    cut = last - 2  # every event up to here is old
    await owner_conn.execute(
        "UPDATE chat_room_events SET created_at = now() - interval '60 days'"
        " WHERE room_id = $1 AND seq <= $2", UUID(room["id"]), cut)

    await run_task(test_db, "chat.prune_events", timestamp=0)
    kept = await owner_conn.fetch(
        "SELECT seq FROM chat_room_events WHERE room_id = $1 ORDER BY seq", UUID(room["id"]))
    assert [r["seq"] for r in kept] == [cut + 1, cut + 2]
    assert await owner_conn.fetchval(  # the messages themselves stay
        "SELECT count(*) FROM chat_messages WHERE room_id = $1 AND content LIKE 'm%'",
        UUID(room["id"])) == 4

    ws = await ready_ws(live_server.ws_url, bob["access_token"])
    try:
        assert (await ws.subscribe(room["id"], last_seq=0))["seq"] == last
        frames = await ws.recv_until(is_message("m3"))
        assert frames[0] == {"type": "resync", "room_id": room["id"], "from_seq": 0, "to_seq": cut}
        assert [f["seq"] for f in frames[1:]] == [cut + 1, cut + 2]
        # Resuming from after the cut needs no resync.
        await ws.send({"type": "unsubscribe", "room_id": room["id"]})
        await ws.recv_until(lambda f: f["type"] == "unsubscribed")
        await ws.subscribe(room["id"], last_seq=cut)
        frames = await ws.recv_until(is_message("m3"))
        assert [f["type"] for f in frames] == ["message.created", "message.created"]
    finally:
        await ws.close()
