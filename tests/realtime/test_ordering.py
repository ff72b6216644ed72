"""Room events reach the sockets in ``seq`` order without database loads, whoever wrote them.

Two processes writing to one room used to publish after their commits, so
their events often crossed on the bus; every socket of the room then saw a
gap, queried the database for the "missing" event and dropped the late copy.
Now PostgreSQL delivers them in commit order (NOTIFY inside the writing
transaction), and the hub of each process puts events that still arrive out
of order (Redis) back in order before its sockets see them.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import pytest
from sqlalchemy import event

from focushub.chat import events as chat_events
from focushub.chat import queries
from focushub.chat import service as chat_service
from focushub.chat.events import room_event
from focushub.chat.schemas import MessageCreate
from focushub.core.db import SERVICE, Caller
from focushub.core.events import FANOUT_CHANNEL, Event, EventBus, Hub, pack, unpack
from focushub.core.jobs import JobQueue
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings
from tests.api.conftest import make_user
from tests.realtime.conftest import TIMEOUT, ready_ws
from tests.realtime.test_gateway import group, is_message, send

ROOM = "room:5b0c3a52-6d4e-4a57-9a55-3c4f0f5d2a11"


class Recorder:
    """A subscriber that keeps what the hub hands it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def offer(self, channel: str, event: dict[str, Any]) -> None:
        self.events.append(event)

    @property
    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events if "seq" in e]


def ev(seq: int, channel: str = ROOM) -> dict[str, Any]:
    return {"type": "message.created", "room_id": channel.removeprefix("room:"), "seq": seq,
            "data": {}, "created_at": "2026-01-01T00:00:00+00:00"}


async def wait_for(predicate, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# --- the hub -------------------------------------------------------------------------------


async def test_hub_hands_on_room_events_in_seq_order():
    hub, sub = Hub(), Recorder()
    hub.add(ROOM, sub)
    for seq in (1, 3, 4, 2, 5):
        hub.dispatch(ROOM, ev(seq), seq)
    assert sub.seqs == [1, 2, 3, 4, 5]


async def test_hub_orders_a_room_s_first_event_from_the_stored_seq():
    hub, sub = Hub(), Recorder()
    hub.add(ROOM, sub)
    hub.note_stored(ROOM, 5)  # a socket's catch-up read last_event_seq = 5
    hub.dispatch(ROOM, ev(7), 7)
    hub.dispatch(ROOM, ev(6), 6)
    hub.note_stored(ROOM, 4)  # later reads change nothing
    hub.dispatch(ROOM, ev(8), 8)
    assert sub.seqs == [6, 7, 8]


async def test_hub_gives_up_waiting_for_a_lost_event_and_leaves_the_gap_to_the_sockets():
    hub, sub = Hub(hold_seconds=0.01), Recorder()
    hub.add(ROOM, sub)
    hub.dispatch(ROOM, ev(1), 1)
    hub.dispatch(ROOM, ev(4), 4)
    hub.dispatch(ROOM, ev(3), 3)
    assert sub.seqs == [1]
    await wait_for(lambda: len(sub.seqs) == 3, "the held events")
    assert sub.seqs == [1, 3, 4]
    hub.dispatch(ROOM, ev(2), 2)  # too late: passed on, the sockets drop what they loaded
    hub.dispatch(ROOM, ev(5), 5)
    assert sub.seqs == [1, 3, 4, 2, 5]


async def test_hub_passes_other_events_straight_through_and_forgets_rooms_without_sockets():
    hub, sub = Hub(hold_seconds=60), Recorder()
    hub.add(ROOM, sub)
    user = "user:7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22"
    hub.add(user, sub)
    hub.dispatch(ROOM, ev(1), 1)
    hub.dispatch(ROOM, ev(3), 3)
    hub.dispatch(ROOM, {"type": "typing", "room_id": ROOM.removeprefix("room:"), "user_id": "u"})
    hub.dispatch(user, ev(7))  # the user channel's copy of a participant event
    assert [e.get("seq") for e in sub.events] == [1, None, 7]
    hub.discard(ROOM, sub)  # the last socket leaves: nothing stays held or scheduled
    hub.discard(user, sub)
    assert hub.subscribers(ROOM) == []
    hub.add(ROOM, sub)
    hub.dispatch(ROOM, ev(9), 9)  # a fresh start for the room
    assert [e.get("seq") for e in sub.events] == [1, None, 7, 9]


# --- PostgreSQL: commit order across processes ----------------------------------------------


def runtime_on(test_db, engine, bus: EventBus) -> Runtime:
    """The runtime of a server process whose event bus is ``bus``."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret="x" * 40)
    return Runtime(settings, engine, bus, JobQueue(test_db.app_url), owns_engine=False)


async def test_a_burst_of_ephemeral_events_goes_out_in_few_notify_statements_in_order(two_buses):
    """A class coming online: hundreds of presence frames published at once by one process.
    Every one arrives, in the order published, carried by a handful of NOTIFY statements
    (one per event through one connection queued them for seconds)."""
    sender, receiver = two_buses
    sub = Recorder()
    await receiver.subscribe(ROOM, sub)
    before = sender.notify_statements
    await asyncio.gather(*(sender.publish(ROOM, {"type": "presence", "n": n}) for n in range(300)))
    await wait_for(lambda: len(sub.events) == 300, "the 300 events")
    assert [e["n"] for e in sub.events] == list(range(300))
    assert 1 <= sender.notify_statements - before <= 10


def test_pack_puts_bus_messages_in_as_few_payloads_as_fit_in_order():
    bodies = [orjson.dumps({"ch": ROOM, "ev": {"n": n, "pad": "x" * (n % 50)}}) for n in range(200)]
    payloads = pack(bodies, limit=1000)
    assert all(len(p.encode()) <= 1000 for p in payloads)
    assert [m["ev"]["n"] for p in payloads for m in unpack(p)] == list(range(200))
    # Full: the first message of each payload would not have fitted in the one before.
    firsts = [len(orjson.dumps(unpack(p)[0])) for p in payloads]
    assert all(len(a.encode()) + first + 3 > 1000
               for a, first in zip(payloads, firsts[1:], strict=False))
    assert len(payloads) < 30
    # A message alone travels as itself (what any older listener reads), and one too long
    # to share a payload travels alone.
    assert pack(bodies[:1]) == [bodies[0].decode()]
    big = orjson.dumps({"ch": ROOM, "ev": {"pad": "y" * 990}})
    assert pack([bodies[0], big, bodies[1]], limit=1000) == [
        bodies[0].decode(), big.decode(), bodies[1].decode()]
    assert pack([]) == []


async def test_a_transaction_s_events_go_out_in_few_notifications_in_order(
        test_db, engine, two_buses):
    """A group commit's events (one per message) share NOTIFY payloads: PostgreSQL queues
    and sends each notification to every listening process, which each wake for it."""
    sender, receiver = two_buses
    sub = Recorder()
    await receiver.subscribe(ROOM, sub)
    payloads: list[str] = []
    listener = await asyncpg.connect(test_db.app_url)
    await listener.add_listener(FANOUT_CHANNEL, lambda *a: payloads.append(a[3]))
    try:
        rt = runtime_on(test_db, engine, sender)
        async with rt.transaction(SERVICE) as tx:
            for seq in range(1, 61):
                tx.publish(ROOM, ev(seq), seq=seq)
        await wait_for(lambda: len(sub.events) == 60, "the 60 events")
    finally:
        await listener.close()
    assert sub.seqs == list(range(1, 61))
    assert [m["seq"] for p in payloads for m in unpack(p)] == list(range(1, 61))
    assert 1 <= len(payloads) <= 3


def caller_of(session: dict[str, Any]) -> Caller:
    return Caller(role="authenticated", user_id=UUID(session["user"]["id"]))


async def test_concurrent_writes_through_two_processes_arrive_in_seq_order(
        live_server, http, test_db, engine, two_buses):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    arrived: list[int] = []  # straight off LISTEN: the order PostgreSQL delivers in

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for message in unpack(payload):
            if message["ch"] == f"room:{room['id']}":
                arrived.append(message["ev"]["seq"])

    listener = await asyncpg.connect(test_db.app_url)
    await listener.add_listener(FANOUT_CHANNEL, on_notify)
    seen = [Recorder(), Recorder()]
    for bus, sub in zip(two_buses, seen, strict=True):
        await bus.subscribe(f"room:{room['id']}", sub)
    try:
        writers = [caller_of(alice), caller_of(bob)]
        runtimes = [runtime_on(test_db, engine, bus) for bus in two_buses]
        n = 40
        await asyncio.gather(*(
            chat_service.send_message(runtimes[i % 2], writers[i % 2], UUID(room["id"]),
                                      MessageCreate(content=f"m{i}"))
            for i in range(n)))
        await wait_for(lambda: len(arrived) == n and all(len(s.seqs) == n for s in seen),
                       "every message on both buses")
    finally:
        await listener.close()
    in_order = list(range(arrived[0], arrived[0] + n))
    assert arrived == in_order
    for sub in seen:
        assert sub.seqs == in_order


async def test_events_of_a_transaction_that_rolls_back_are_never_sent(
        live_server, http, test_db, engine, two_buses):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    sub = Recorder()
    await two_buses[1].subscribe(f"room:{room['id']}", sub)
    rt = runtime_on(test_db, engine, two_buses[0])
    with pytest.raises(RuntimeError):
        async with rt.transaction(caller_of(alice)) as tx:
            tx.before_commit(chat_events.publish_transaction_events)
            await tx.scalar("SELECT id FROM public.chat_send_message("
                            " :room_id, 'rolled back', 'text', NULL, NULL)", room_id=room["id"])
            rows = await tx.all(queries.TRANSACTION_EVENTS)
            assert len(rows) == 1
            chat_events.publish_rows(tx, [dict(r) for r in rows])
            assert len(tx.events) == 1
            raise RuntimeError("abort")
    await send(http, bob, room["id"], "kept")
    # Only messages count: the room's own events (bob joining) may still be on their way.
    await wait_for(lambda: any(map(is_message("kept"), sub.events)), "the committed message")
    assert [e["data"]["content"] for e in sub.events if e["type"] == "message.created"] == ["kept"]


# --- the gateway: no database load for events that arrive out of order -----------------------


async def test_sockets_get_swapped_events_in_order_without_loading_them(
        live_server, http, test_db, engine, owner_conn):
    alice, bob, carol = [await make_user(http) for _ in range(3)]
    room = await group(http, alice, bob, carol)
    sockets = [await ready_ws(live_server.ws_url, u["access_token"]) for u in (bob, carol)]
    for ws in sockets:
        await ws.subscribe(room["id"])

    # Two messages stored but not yet published (a bus confined to this test process),
    # then published by "another process" in the wrong order, as Redis may deliver them.
    silent = runtime_on(test_db, engine, EventBus(database_url=None))
    for text in ("first", "second"):
        await chat_service.send_message(silent, caller_of(alice), UUID(room["id"]),
                                        MessageCreate(content=text))
    rows = await owner_conn.fetch(
        "SELECT room_id, seq, type, payload, created_at FROM chat_room_events"
        " WHERE room_id = $1 ORDER BY seq DESC LIMIT 2", UUID(room["id"]))

    loads: list[str] = []

    def count_loads(_conn, _cursor, statement, *_args) -> None:
        if "chat_room_events" in statement:
            loads.append(statement)

    server_engine = live_server.app.state.runtime.engine.sync_engine
    event.listen(server_engine, "before_cursor_execute", count_loads)
    publisher = EventBus(database_url=test_db.app_url)
    await publisher.start()
    try:
        for row in rows:  # second, then first
            stored = room_event(dict(row))
            await publisher._send(Event(f"room:{room['id']}", stored, seq=stored["seq"]))
        await send(http, alice, room["id"], "third")
        for ws in sockets:
            frames = await ws.recv_until(is_message("third"))
            messages = [f for f in frames if f["type"] == "message.created"]
            assert [m["data"]["content"] for m in messages] == ["first", "second", "third"]
            seqs = [f["seq"] for f in frames if "seq" in f]
            assert seqs == sorted(set(seqs))
    finally:
        await publisher.stop()
        event.remove(server_engine, "before_cursor_execute", count_loads)
        for ws in sockets:
            await ws.close()
    assert loads == []
