"""Realtime delivery under load: N WebSocket clients in rooms of 6, each sending 2 messages/s.

Rooms are created through the REST API (``POST /api/v1/chat/rooms``, the first
member creating the room with the five others), then every client connects to
``/api/v1/realtime?access_token=…``, subscribes to its room and sends
``message.send`` frames at 2 per second (with jitter) for ``duration`` seconds;
after a drain period the run stops. The content of each message carries its
sender, its number and the send time (``time.time_ns()``, one clock: the
clients run in one process), so each ``message.created`` received gives one
delivery latency. Expected deliveries: every message to each of the 6 room
members (its sender included). Lost = expected − received once the drain
ends; duplicated = the same message received twice by one client. The server
is the API under test (``--workers 2``: the kernel spreads the sockets over the
two processes; events cross processes through the realtime bus).
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
import workload  # bench/ is on sys.path: run by bench/suite.py

ROOM_SIZE = 6
RATE = 2.0  # messages per second per client


async def _rooms(port: int, users: list[tuple[str, str]], tokens: dict[str, str]) -> list[list[str]]:
    """Create len(users) // 6 rooms; return the member user ids of each (creator first)."""
    rooms: list[tuple[str, list[str]]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        sem = asyncio.Semaphore(8)

        async def make(i: int) -> None:
            members = [u for u, _ in users[i * ROOM_SIZE:(i + 1) * ROOM_SIZE]]
            async with sem:
                r = await http.post("/api/v1/chat/rooms", headers={
                    "Authorization": f"Bearer {tokens[members[0]]}"},
                    json={"type": "group", "name": f"bench room {i}", "member_ids": members[1:]})
            if r.status_code >= 300:
                raise RuntimeError(f"room creation: {r.status_code} {r.text[:300]}")
            room_id = r.json()["id"]
            # Members who do not follow the creator are invited (0031): they accept.
            for member in members[1:]:
                async with sem:
                    a = await http.post(f"/api/v1/chat/invitations/{room_id}/accept", headers={
                        "Authorization": f"Bearer {tokens[member]}"})
                if a.status_code not in (200, 404):  # 404: a follower, added at once
                    raise RuntimeError(f"accepting: {a.status_code} {a.text[:300]}")
            rooms.append((room_id, members))

        await asyncio.gather(*(make(i) for i in range(len(users) // ROOM_SIZE)))
    return rooms  # type: ignore[return-value]


async def run_one(port: int, owner_url: str, token_for: Any, n: int, duration: float,
                  drain: float = 5.0) -> dict[str, Any]:
    """One scenario, its clients without the cyclic garbage collector
    (``workload.collector_off``)."""
    with workload.collector_off():
        return await _run_one(port, owner_url, token_for, n, duration, drain)


async def _run_one(port: int, owner_url: str, token_for: Any, n: int, duration: float,
                   drain: float) -> dict[str, Any]:
    import websockets

    conn = await asyncpg.connect(owner_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, email FROM users WHERE is_active ORDER BY md5(id::text || 'rt') LIMIT $1",
            (n // ROOM_SIZE) * ROOM_SIZE)
        await workload.open_sessions(conn, [r["id"] for r in rows])
    finally:
        await conn.close()
    users = [(r["id"], r["email"]) for r in rows]
    tokens = {u: token_for(uuid.UUID(u), e) for u, e in users}
    t0 = time.perf_counter()
    rooms = await _rooms(port, users, tokens)
    setup_rooms_s = time.perf_counter() - t0

    latencies: list[float] = []
    received: dict[tuple[str, str], int] = {}  # (receiver, message key) -> times
    sent: dict[str, str] = {}  # message key -> room id
    room_members = {rid: members for rid, members in rooms}
    errors: dict[str, int] = {}
    stop_sending = asyncio.Event()
    connected = 0
    ready = asyncio.Event()
    total = sum(len(m) for _, m in rooms)

    def err(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def client(room_id: str, user: str, idx: int) -> None:
        nonlocal connected
        url = f"ws://127.0.0.1:{port}/api/v1/realtime?access_token={tokens[user]}"
        try:
            async with websockets.connect(url, max_queue=None, open_timeout=60,
                                          ping_interval=None) as ws:
                await ws.send(orjson.dumps({"type": "subscribe", "room_id": room_id}).decode())
                while True:
                    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                    if frame.get("type") == "subscribed":
                        break
                    if frame.get("type") == "error":
                        raise RuntimeError(frame)
                connected += 1
                if connected == total:
                    ready.set()
                await ready.wait()

                async def sender() -> None:
                    rng = random.Random(idx)
                    k = 0
                    await asyncio.sleep(rng.random() / RATE)
                    while not stop_sending.is_set():
                        key = f"{idx}:{k}"
                        sent[key] = room_id
                        await ws.send(orjson.dumps({
                            "type": "message.send", "room_id": room_id,
                            "content": f"rt {key} {time.time_ns()}", "request_id": key,
                            "idempotency_key": f"bench-{uuid.uuid4().hex}"}).decode())
                        k += 1
                        await asyncio.sleep(1 / RATE * (0.8 + 0.4 * rng.random()))

                task = asyncio.create_task(sender())
                try:
                    # Read until the run cancels this client. Not a timed recv() per frame:
                    # on Python 3.11 each wait_for() is a task and a timer, thousands a
                    # second taken from the cores the server runs on.
                    async for raw in ws:
                        now = time.time_ns()
                        frame = orjson.loads(raw)
                        if frame.get("type") == "message.created":
                            content = (frame.get("data") or {}).get("content", "")
                            parts = content.split(" ")
                            if len(parts) == 3 and parts[0] == "rt":
                                key = parts[1]
                                seen = received.get((user, key), 0)
                                received[(user, key)] = seen + 1
                                if not seen:
                                    latencies.append((now - int(parts[2])) / 1e6)
                        elif frame.get("type") == "error":
                            err("error:" + str(frame.get("code")))
                finally:
                    task.cancel()
        except Exception as exc:  # a failed or closed socket counts, the run goes on
            err(type(exc).__name__)
            if not ready.is_set():
                connected += 1
                if connected == total:
                    ready.set()

    tasks = [asyncio.create_task(client(rid, u, i * ROOM_SIZE + j))
             for i, (rid, members) in enumerate(rooms) for j, u in enumerate(members)]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(ready.wait(), 120)
    except TimeoutError:
        err("connect_timeout")
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(duration)
    stop_sending.set()
    await asyncio.sleep(drain)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0

    expected = sum(len(room_members[rid]) for rid in sent.values())
    delivered = sum(1 for _ in received)
    duplicates = sum(v - 1 for v in received.values() if v > 1)
    latencies.sort()

    def at(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None

    return {
        "clients": total, "rooms": len(rooms), "duration_s": duration, "drain_s": drain,
        "messages_sent": len(sent), "deliveries_expected": expected, "deliveries": delivered,
        "lost": expected - delivered, "duplicated": duplicates,
        "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0),
        "errors": errors, "setup_rooms_s": round(setup_rooms_s, 1), "connect_s": round(connect_s, 1),
        # share of one core the client process itself used: near 100 % means the client,
        # not the server, bounds the figures
        "client_cpu_pct": round(100 * ((cpu1.ru_utime + cpu1.ru_stime)
                                       - (cpu0.ru_utime + cpu0.ru_stime)) / wall),
    }
