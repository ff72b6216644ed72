"""A server process LISTENs on PostgreSQL only while it has someone to hand events to.

Every notification (a like, a comment, a chat message) wakes the backend of every
listening process and costs that process a callback; a process without sockets paid it
on every write for nobody. Now the bus listens from the first subscriber (``subscribe``
returns once the LISTEN is in effect) until a while after the last one left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from focushub.core.events import FANOUT_CHANNEL, EventBus
from focushub.notifications import events as notification_events
from tests.api.conftest import make_user
from tests.realtime.conftest import ready_ws
from tests.realtime.test_ordering import ROOM, Recorder, wait_for

LINGER = 0.3


async def listening_channels(bus: EventBus) -> list[str]:
    """What the bus's own LISTEN connection listens on, as PostgreSQL says."""
    assert bus._listen_conn is not None
    return sorted(await bus._listen_conn.fetchval(
        "SELECT coalesce(array_agg(c), '{}') FROM pg_listening_channels() AS c"))


async def stopped_listening(bus: EventBus) -> None:
    """Wait until the bus has stopped listening and its UNLISTEN statements are done (they
    run under the lock that a LISTEN waits for)."""
    await wait_for(lambda: not bus.listening, "the bus to stop listening")
    async with bus._listen_lock:
        pass


@pytest.fixture
async def sender_and_receiver(test_db) -> AsyncIterator[tuple[EventBus, EventBus]]:
    sender = EventBus(database_url=test_db.app_url)
    receiver = EventBus(database_url=test_db.app_url, listen_linger=LINGER)
    receiver.bridge(notification_events.DB_CHANNEL, notification_events.bridge)
    for bus in (sender, receiver):
        await bus.start()
    try:
        yield sender, receiver
    finally:
        for bus in (sender, receiver):
            await bus.stop()


async def test_a_bus_listens_from_its_first_subscriber_until_after_its_last(sender_and_receiver):
    sender, receiver = sender_and_receiver
    both = sorted([FANOUT_CHANNEL, notification_events.DB_CHANNEL])
    assert await listening_channels(receiver) == [] and not receiver.listening

    sub = Recorder()
    await receiver.subscribe(ROOM, sub)  # in effect when it returns: no wait, no race
    assert await listening_channels(receiver) == both
    await sender.publish(ROOM, {"type": "typing", "n": 1})
    await wait_for(lambda: len(sub.events) == 1, "the first event")

    # The last subscriber leaves: the bus keeps listening for a while (a socket that
    # reconnects finds it listening), and a subscriber back in that while keeps it on.
    receiver.unsubscribe(ROOM, sub)
    assert receiver.listening
    await receiver.subscribe(ROOM, sub)
    await asyncio.sleep(LINGER * 3)
    assert await listening_channels(receiver) == both

    receiver.unsubscribe(ROOM, sub)
    await stopped_listening(receiver)
    assert await listening_channels(receiver) == []

    await receiver.subscribe(ROOM, sub)
    assert await listening_channels(receiver) == both
    await sender.publish(ROOM, {"type": "typing", "n": 2})
    await wait_for(lambda: len(sub.events) == 2, "the event after listening again")
    assert [e["n"] for e in sub.events] == [1, 2]


async def test_a_bus_that_reconnects_listens_again_only_for_subscribers(sender_and_receiver,
                                                                         owner_conn):
    sender, receiver = sender_and_receiver
    sub = Recorder()
    await receiver.subscribe(ROOM, sub)
    pid = receiver._listen_conn.get_server_pid()
    await owner_conn.execute("SELECT pg_terminate_backend($1)", pid)
    await wait_for(lambda: receiver._listen_conn is not None
                   and receiver._listen_conn.get_server_pid() != pid and receiver.listening,
                   "the bus to reconnect and listen")
    await sender.publish(ROOM, {"type": "typing", "n": 1})
    await wait_for(lambda: len(sub.events) == 1, "an event after the reconnect")

    receiver.unsubscribe(ROOM, sub)
    await stopped_listening(receiver)
    pid = receiver._listen_conn.get_server_pid()
    await owner_conn.execute("SELECT pg_terminate_backend($1)", pid)
    await wait_for(lambda: receiver._listen_conn is not None
                   and receiver._listen_conn.get_server_pid() != pid, "the bus to reconnect")
    assert await listening_channels(receiver) == [] and not receiver.listening


async def test_a_socket_hears_its_notifications_from_ready_on(live_server, http):
    """The server's bus listens before the socket is told it is ready: a like written
    right after ``ready`` reaches the author live."""
    alice, bob = await make_user(http), await make_user(http)
    post = (await http.post("/api/v1/posts", headers=alice["headers"],
                            json={"title": "Listening", "content": "from ready on"})).json()
    ws = await ready_ws(live_server.ws_url, alice["access_token"])
    r = await http.put(f"/api/v1/posts/{post['id']}/vote", headers=bob["headers"],
                       json={"vote_type": "upvote"})
    assert r.status_code == 200, r.text
    frames = await ws.recv_until(lambda f: f.get("type") == "notification.created")
    assert frames[-1]["data"]["type"] == "like"
    await ws.close()
