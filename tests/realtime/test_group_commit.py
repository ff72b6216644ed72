"""Chat messages sent at the same moment are written in one transaction per lane (0034),
each as its own sender: every one is acknowledged with its stored row, numbered without
gaps, published once in order; one that may not be sent fails alone."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from prometheus_client import REGISTRY

from focushub.chat import service as chat_service
from focushub.chat.schemas import MessageCreate
from focushub.core.batching import Closed
from focushub.core.errors import AppError
from focushub.core.events import EventBus
from focushub.core.jobs import JobQueue
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings
from tests.api.conftest import make_user
from tests.realtime.test_fanout import REDIS_URL, redis_answers
from tests.realtime.test_gateway import group
from tests.realtime.test_ordering import Recorder, caller_of, wait_for


def runtime(test_db, engine, bus: EventBus) -> Runtime:
    """A server process's runtime on ``bus``, without write limits (the tests send fast)."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret="x" * 40,
                        write_limits_enabled=False)
    return Runtime(settings, engine, bus, JobQueue(test_db.app_url), owns_engine=False)


def _batches() -> float:
    """Transactions the chat's group commit has written so far (its metric)."""
    return REGISTRY.get_sample_value(
        "focushub_group_commit_items_count", {"name": "chat.messages"}) or 0.0


async def test_messages_sent_together_are_written_together_and_each_acknowledged(
        live_server, http, test_db, engine, two_buses, owner_conn):
    alice, bob, carol, outsider = [await make_user(http) for _ in range(4)]
    rooms = [await group(http, alice, bob, name="A"), await group(http, bob, carol, name="B"),
             await group(http, carol, alice, name="C")]
    members = {rooms[0]["id"]: [alice, bob], rooms[1]["id"]: [bob, carol],
               rooms[2]["id"]: [carol, alice]}
    seen = Recorder()
    for room in rooms:
        await two_buses[1].subscribe(f"room:{room['id']}", seen)
    rt = runtime(test_db, engine, two_buses[0])
    sends = []
    for i in range(60):
        room_id = rooms[i % 3]["id"]
        sender = members[room_id][i % 2]
        sends.append((room_id, sender, f"m{i}"))
    batches_before = _batches()
    try:
        results = await asyncio.gather(
            *(chat_service.send_message(rt, caller_of(sender), UUID(room_id),
                                        MessageCreate(content=text))
              for room_id, sender, text in sends),
            chat_service.send_message(rt, caller_of(outsider), UUID(rooms[0]["id"]),
                                      MessageCreate(content="let me in")),
            return_exceptions=True)
        batches = _batches() - batches_before
    finally:
        await rt.stop()
    *acked, refused = results
    assert isinstance(refused, AppError) and refused.status_code == 404
    for (room_id, sender, text), message in zip(sends, acked, strict=True):
        assert not isinstance(message, BaseException), message
        assert (str(message.room_id), str(message.sender_id), message.content) == (
            room_id, sender["user"]["id"], text)
    # All 61 were waiting at once: one transaction per lane, three rooms at most three lanes.
    assert batches <= 3
    for room in rooms:
        seqs = sorted(m.seq for m in acked if str(m.room_id) == room["id"])
        # After the room's "joined" messages, without gap or duplicate.
        assert seqs == list(range(seqs[0], seqs[0] + 20))
        stored = await owner_conn.fetch(
            "SELECT seq, content FROM chat_messages WHERE room_id = $1 AND message_type = 'text'"
            " ORDER BY seq", UUID(room["id"]))
        assert [(r["seq"], r["content"]) for r in stored] == sorted(
            (m.seq, m.content) for m in acked if str(m.room_id) == room["id"])
    # Another process gets each room's events once, in order.
    await wait_for(lambda: sum(e["type"] == "message.created" for e in seen.events) == 60,
                   "the 60 messages on the other bus")
    for room in rooms:
        room_seqs = [e["seq"] for e in seen.events if e["room_id"] == room["id"]]
        assert room_seqs == sorted(set(room_seqs))


async def test_a_stopped_runtime_refuses_messages(live_server, test_db, engine, two_buses, http):
    alice, bob = await make_user(http), await make_user(http)
    room = await group(http, alice, bob)
    rt = runtime(test_db, engine, two_buses[0])
    first = await chat_service.send_message(rt, caller_of(alice), UUID(room["id"]),
                                            MessageCreate(content="before"))
    assert first.seq >= 1
    await rt.stop()
    with pytest.raises(Closed) as refused:  # a 503 for the client, never a 500
        await chat_service.send_message(rt, caller_of(alice), UUID(room["id"]),
                                        MessageCreate(content="after"))
    assert refused.value.status_code == 503


async def test_a_batch_s_events_reach_another_process_in_order_through_redis(
        live_server, http, test_db, engine):
    """On Redis a batch's events are published after the commit in one pipeline: another
    process still gets every one, in each room's order."""
    if not redis_answers():
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    alice, bob = await make_user(http), await make_user(http)
    rooms = [await group(http, alice, bob, name=f"R{i}") for i in range(2)]
    buses = [EventBus(database_url=test_db.app_url, redis_url=REDIS_URL) for _ in range(2)]
    for bus in buses:
        await bus.start()
    seen = Recorder()
    for room in rooms:
        await buses[1].subscribe(f"room:{room['id']}", seen)
    rt = runtime(test_db, engine, buses[0])
    try:
        sent = await asyncio.gather(*(
            chat_service.send_message(rt, caller_of((alice, bob)[i % 2]),
                                      UUID(rooms[i % 2]["id"]), MessageCreate(content=f"r{i}"))
            for i in range(30)))
        await wait_for(lambda: len(seen.events) == 30, "the 30 messages through Redis")
    finally:
        await rt.stop()
        await buses[1].stop()
    assert buses[0].backend == "redis"
    for room in rooms:
        got = [e for e in seen.events if e["room_id"] == room["id"]]
        assert [e["seq"] for e in got] == list(range(got[0]["seq"], got[0]["seq"] + 15))
        assert [e["data"]["content"] for e in got] == [
            m.content for m in sorted(sent, key=lambda m: m.seq) if str(m.room_id) == room["id"]]
