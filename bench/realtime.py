"""Realtime delivery under load: N WebSocket clients in rooms of 6, each sending 2 messages/s.

Rooms are created through the REST API (``POST /api/v1/chat/rooms``, the first
member creating the room with the five others), then every client connects to
``/api/v1/realtime?access_token=…``, subscribes to its room and sends
``message.send`` frames at 2 per second (with jitter) for ``duration`` seconds;
after a drain period the run stops. The content of each message carries its
sender, its number and the send time (``time.time_ns()``, one clock: the
clients run in one process), so each ``message.created`` received gives one
delivery latency. Expected deliveries: every message to each of the 6 room
members (its sender included). Lost = expected − received once the run has
settled (below); duplicated = the same message received twice by one client. The server
is the API under test (``--workers 2``: the kernel spreads the sockets over the
two processes; events cross processes through the realtime bus).

A run that could not keep its load says so (``kept_load`` false, and ``why``) instead of
being read for its latency: each sender keeps a schedule and its lag behind it is
recorded; after the senders stop the run waits at least the drain, then until nothing
has arrived for 3 s (at most :data:`SETTLE_MOST` s), so what an overloaded server
delivers late counts as late, not lost; and a server still delivering more than
:data:`BACKLOG_LIMIT_S` after the senders stopped was behind its load.
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
SETTLE_MOST = 60.0  # seconds waited at most for late deliveries after the senders stop
BACKLOG_LIMIT_S = 1.0  # deliveries arriving later than this after the senders stop: behind
LAG_LIMIT_MS = 100.0  # a sender's p99 lag behind its schedule: the clients could not send
CLIENT_CPU_LIMIT = 90  # % of one core used by the clients' process: they bound the figures


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


def overloaded(backlog_s: float, lag_p99_ms: float | None, client_cpu_pct: float) -> list[str]:
    """Why a level did not keep its load (nothing when it did)."""
    why = []
    if backlog_s > BACKLOG_LIMIT_S:
        why.append(f"still delivering {backlog_s} s after the senders stopped")
    if (lag_p99_ms or 0) > LAG_LIMIT_MS:
        why.append(f"the senders {lag_p99_ms} ms behind their schedule (p99)")
    if client_cpu_pct > CLIENT_CPU_LIMIT:
        why.append(f"the clients' process at {client_cpu_pct} % of a core")
    return why


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
    lag: list[float] = []  # each send's lag behind its sender's schedule, ms
    last_delivery = 0.0  # perf_counter() of the last new delivery
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
        nonlocal connected, last_delivery
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
                    due = time.perf_counter() + rng.random() / RATE
                    await asyncio.sleep(due - time.perf_counter())
                    while not stop_sending.is_set():
                        lag.append(max(0.0, time.perf_counter() - due) * 1000)
                        key = f"{idx}:{k}"
                        sent[key] = room_id
                        await ws.send(orjson.dumps({
                            "type": "message.send", "room_id": room_id,
                            "content": f"rt {key} {time.time_ns()}", "request_id": key,
                            "idempotency_key": f"bench-{uuid.uuid4().hex}"}).decode())
                        k += 1
                        due += 1 / RATE * (0.8 + 0.4 * rng.random())
                        await asyncio.sleep(max(0.0, due - time.perf_counter()))

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
                                    last_delivery = time.perf_counter()
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
    stopped = time.perf_counter()
    await asyncio.sleep(drain)
    quiet, seen = 0, len(received)
    while quiet < 3 and time.perf_counter() - stopped < SETTLE_MOST:
        await asyncio.sleep(1)
        quiet, seen = (quiet + 1 if len(received) == seen else 0), len(received)
    settled_s = time.perf_counter() - stopped
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0

    expected = sum(len(room_members[rid]) for rid in sent.values())
    delivered = sum(1 for _ in received)
    duplicates = sum(v - 1 for v in received.values() if v > 1)
    latencies.sort()
    lag.sort()

    def at(q: float, values: list[float] = latencies) -> float | None:
        return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else None

    client_cpu = round(100 * ((cpu1.ru_utime + cpu1.ru_stime)
                              - (cpu0.ru_utime + cpu0.ru_stime)) / wall)
    backlog_s = round(max(0.0, last_delivery - stopped), 1)
    why = overloaded(backlog_s, at(0.99, lag), client_cpu)
    return {
        "kept_load": not why, "why": "; ".join(why), "backlog_s": backlog_s,
        "sender_lag_p99_ms": at(0.99, lag), "settled_s": round(settled_s, 1),
        "clients": total, "rooms": len(rooms), "duration_s": duration, "drain_s": drain,
        "messages_sent": len(sent), "deliveries_expected": expected, "deliveries": delivered,
        "lost": expected - delivered, "duplicated": duplicates,
        "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0),
        "errors": errors, "setup_rooms_s": round(setup_rooms_s, 1), "connect_s": round(connect_s, 1),
        # share of one core the client process itself used: near 100 % means the client,
        # not the server, bounds the figures
        "client_cpu_pct": client_cpu,
    }
