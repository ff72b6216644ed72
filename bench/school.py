"""A school day on the realtime gateway, the write ceiling, and how many idle sockets it holds.

    .venv/bin/python bench/school.py [--sockets 2000] [--duration 60] [--bus pg|redis]
                                     [--ceiling 250,500,1000,2000] [--sql-limit 1,10,50]
                                     [--idle 10000] [--json FILE]

Everything runs against ``focushub serve --workers 2`` on an embedded PostgreSQL in
``bench/results/school-pgdata`` (its database is recreated each run: users, sessions and
rooms are written directly as the schema owner, so no limit or consent rule shapes the
load). The clients all live in this process, so one clock times every delivery.

**School day** (``--sockets``, ``--duration``): one socket per user, every user in rooms
of 2 to 30 (half of the rooms are pairs, 30 % have 3–8 members, 20 % have 9–30); 10 % of the
users are active and send a message every 5 s on average (exponential gaps) to one of their
rooms, each preceded by a ``typing`` event; 5 % of the sockets per minute drop without a
close frame and come back 0.5–2 s later, resuming every room from the last ``seq`` they
saw. Each message is expected once by every member of its room (its sender included).
Reported: deliveries expected and received, lost, duplicated, out of order (a room event
whose ``seq`` is not above the last one that socket saw in that room), and latency from
the send to each delivery: *live* for sockets that were connected when the message was
sent, *resumed* for those that got it by the replay after reconnecting.

**Write ceiling** (``--ceiling``): 600 sockets in rooms of 6, all sending, at each total
rate in turn for ``--step`` seconds; the highest rate whose deliveries all arrived with a
p99 ≤ 250 ms is the ceiling.

**The database's own limit** (``--sql-limit``, off by default): the messages' SQL without
the server, as the group commit runs it (role switch, ``chat_send_messages()`` with B messages
for random rooms of 6, the NOTIFY of their events, commit), over two connections per server
process of the login role in a closed loop, for each B in turn for ``--step`` seconds.

**Idle capacity** (``--idle``): that many sockets connected, authenticated and subscribed
to one room each, held for ``--hold`` seconds (uvicorn pings each every 20 s); the server
processes' RSS before and after gives the memory per idle socket, and every socket must
still answer a ``ping`` at the end.

A run that could not keep its load says so: the senders' lag behind their schedule (p99)
and this process's CPU are reported, and a level whose lag p99 exceeds 100 ms or whose
client CPU exceeds 90 % of a core is marked ``client-bound`` instead of trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil
import uvloop
import websockets

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import loadgen  # noqa: E402
import suite  # noqa: E402
import workload  # noqa: E402

from focushub.core import bootstrap  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402
from focushub.migrations import runner  # noqa: E402

RESULTS = BENCH / "results"


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


# ------------------------------------------------------------------------------ set-up
async def make_users(owner: str, n: int, secret: str) -> list[tuple[str, str]]:
    """``n`` users with a live session each; returns (user id, access token)."""
    conn = await asyncpg.connect(owner)
    try:
        rows = await conn.fetch(
            "INSERT INTO users (email, full_name, username)"
            " SELECT 'school' || i || '@example.org', 'Pupil ' || i, 'pupil' || i"
            " FROM generate_series(1, $1) i RETURNING id, email", n)
        await workload.open_sessions(conn, [r["id"] for r in rows])
    finally:
        await conn.close()
    return [(str(r["id"]), workload.token_for(secret, r["id"], r["email"])) for r in rows]


def school_rooms(users: list[str], rng: random.Random, per_user: float = 2.0) -> list[list[str]]:
    """Rooms of 2–30 until the memberships reach ``per_user`` × users; everyone in one at least."""
    rooms: list[list[str]] = []
    pending = users[:]
    rng.shuffle(pending)
    memberships = 0
    while memberships < per_user * len(users) or pending:
        r = rng.random()
        size = 2 if r < 0.5 else rng.randint(3, 8) if r < 0.8 else rng.randint(9, 30)
        members = [pending.pop() for _ in range(min(size, len(pending)))]
        while len(members) < size:
            u = rng.choice(users)
            if u not in members:
                members.append(u)
        rooms.append(members)
        memberships += size
    return rooms


async def write_rooms(owner: str, rooms: list[list[str]]) -> list[str]:
    """Create the rooms and their memberships as the owner; returns the room ids."""
    conn = await asyncpg.connect(owner)
    try:
        ids = [str(uuid.uuid4()) for _ in rooms]
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO chat_rooms (id, name, type, created_by) VALUES ($1, $2, 'group', $3)",
                [(rid, f"room {i}", members[0]) for i, (rid, members) in enumerate(zip(ids, rooms, strict=True))])
            await conn.executemany(
                "INSERT INTO chat_room_participants (room_id, user_id, role) VALUES ($1, $2, $3)"
                " ON CONFLICT (room_id, user_id) DO NOTHING",  # the creator is added by a trigger
                [(rid, u, "admin" if j == 0 else "member")
                 for rid, members in zip(ids, rooms, strict=True) for j, u in enumerate(members)])
    finally:
        await conn.close()
    return ids


# ------------------------------------------------------------------------------ clients
@dataclass
class Tally:
    sent: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (room, send ns)
    acked: set[str] = field(default_factory=set)  # keys the server acknowledged (committed)
    ack_ms: list[float] = field(default_factory=list)  # send -> acknowledgement
    received: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, key) -> times
    live: list[float] = field(default_factory=list)
    resumed: list[float] = field(default_factory=list)
    out_of_order: int = 0
    lag: list[float] = field(default_factory=list)  # sender lag behind schedule, ms
    errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Pupil:
    """One user's socket: subscribes to its rooms, resumes after a drop, counts deliveries."""

    def __init__(self, port: int, user: str, token: str, rooms: list[str], tally: Tally) -> None:
        self.url = f"ws://127.0.0.1:{port}/api/v1/realtime?access_token={token}"
        self.user, self.rooms, self.tally = user, rooms, tally
        self.last_seq: dict[str, int] = {}
        self.ws: Any = None
        self.connected_ns = 0
        self.up = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_queue=None, open_timeout=120,
                                           ping_interval=None, close_timeout=1)
        self.connected_ns = time.time_ns()
        pending = set(self.rooms)
        for room in self.rooms:
            frame: dict[str, Any] = {"type": "subscribe", "room_id": room}
            if room in self.last_seq:
                frame["last_seq"] = self.last_seq[room]
            await self.ws.send(orjson.dumps(frame).decode())
        while pending:  # room events may come first: a resume replays while subscribing
            self.handle(orjson.loads(await asyncio.wait_for(self.ws.recv(), 120)), pending)
        self.up.set()
        self.reader = asyncio.create_task(self.read())

    def handle(self, frame: dict[str, Any], pending: set[str] | None = None) -> None:
        kind = frame.get("type")
        if kind == "subscribed":
            # A first subscription starts live from the room's current seq; a resumed one
            # keeps the last seq seen, and the replay that follows continues from there.
            room = frame["room_id"]
            self.last_seq.setdefault(room, frame.get("seq") or 0)
            if pending is not None:
                pending.discard(room)
            return
        if kind == "error":
            self.tally.error(f"error:{frame.get('code')}")
            return
        if kind == "message.sent":
            key = frame.get("request_id")
            self.tally.acked.add(key)
            if key in self.tally.sent:
                self.tally.ack_ms.append((time.time_ns() - self.tally.sent[key][1]) / 1e6)
            return
        room, seq = frame.get("room_id"), frame.get("seq")
        if room is None or seq is None:
            return  # typing, presence, pong, message.sent
        if seq <= self.last_seq.get(room, 0):
            self.tally.out_of_order += 1
        self.last_seq[room] = max(seq, self.last_seq.get(room, 0))
        if kind != "message.created":
            return
        parts = ((frame.get("data") or {}).get("content") or "").split(" ")
        if len(parts) != 3 or parts[0] != "sd":
            return
        key, sent_ns = parts[1], int(parts[2])
        times = self.tally.received.get((self.user, key), 0)
        self.tally.received[(self.user, key)] = times + 1
        if not times:
            ms = (time.time_ns() - sent_ns) / 1e6
            (self.tally.live if sent_ns >= self.connected_ns else self.tally.resumed).append(ms)

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                self.handle(orjson.loads(raw))
        except websockets.ConnectionClosed:
            pass
        if self.up.is_set():  # closed by the server, not by drop() or close()
            self.up.clear()
            self.tally.error(f"closed_by_server:{self.ws.close_code}")

    async def drop(self) -> None:
        """Lose the connection without a close frame (a phone leaving the Wi-Fi)."""
        self.up.clear()
        self.ws.transport.abort()
        if self.reader:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def close(self) -> None:
        self.up.clear()
        if self.ws is not None:
            await self.ws.close()
        if self.reader:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def send(self, room: str, key: str, typing: bool) -> None:
        if typing:
            await self.ws.send(orjson.dumps({"type": "typing", "room_id": room}).decode())
        sent_ns = time.time_ns()
        self.tally.sent[key] = (room, sent_ns)
        await self.ws.send(orjson.dumps({
            "type": "message.send", "room_id": room, "content": f"sd {key} {sent_ns}",
            "request_id": key, "idempotency_key": f"sd-{key}"}).decode())


async def connect_all(pupils: list[Pupil], at_once: int = 100) -> float:
    sem = asyncio.Semaphore(at_once)

    async def one(p: Pupil) -> None:
        async with sem:
            await p.connect()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(p) for p in pupils))
    return time.perf_counter() - t0


def summary(tally: Tally, members: dict[str, list[str]], wall: float, cpu: float) -> dict[str, Any]:
    # A message counts once the server acknowledged it (committed): one whose socket dropped
    # before the acknowledgement may or may not exist, as for a real client, which would
    # send it again with the same idempotency key.
    expected = sum(len(members[tally.sent[key][0]]) for key in tally.acked)
    delivered = sum(1 for (_, key) in tally.received if key in tally.acked)
    lag99 = _pct(tally.lag, 0.99)
    client_cpu = round(100 * cpu / wall)
    return {
        "messages_sent": len(tally.sent), "acknowledged": len(tally.acked),
        "rate_achieved": round(len(tally.acked) / wall, 1),
        "deliveries_expected": expected, "deliveries": delivered, "lost": expected - delivered,
        "duplicated": sum(v - 1 for v in tally.received.values() if v > 1),
        "out_of_order": tally.out_of_order,
        "live": {q: _pct(tally.live, v) for q, v in (("p50", .5), ("p95", .95), ("p99", .99),
                                                      ("max", 1.0))},
        "acknowledged_ms": {"p50": _pct(tally.ack_ms, .5), "p99": _pct(tally.ack_ms, .99)},
        "resumed": {"count": len(tally.resumed), "p50": _pct(tally.resumed, .5),
                    "p99": _pct(tally.resumed, .99)},
        "reconnects": tally.reconnects, "errors": tally.errors,
        "sender_lag_p99_ms": lag99, "client_cpu_pct": client_cpu,
        "client_bound": (lag99 or 0) > 100 or client_cpu > 90,
    }


async def settle(tally: Tally, least: float, most: float = 120.0) -> float:
    """Wait at least ``least`` s, then until nothing more arrives for 3 s (at most ``most``):
    an overloaded server is still delivering after the senders stop, and what it delivers
    late is late, not lost. Returns the seconds waited."""
    t0 = time.monotonic()
    await asyncio.sleep(least)
    quiet, seen = 0, (len(tally.received), len(tally.acked))
    while quiet < 3 and time.monotonic() - t0 < most:
        await asyncio.sleep(1)
        now = (len(tally.received), len(tally.acked))
        quiet = quiet + 1 if now == seen else 0
        seen = now
    return round(time.monotonic() - t0, 1)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def school_day(port: int, owner: str, secret: str, n: int, duration: float,
                     drain: float, churn_per_minute: float = 0.05, typing: bool = True,
                     seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    users = await make_users(owner, n, secret)
    ids = [u for u, _ in users]
    rooms = school_rooms(ids, rng)
    room_ids = await write_rooms(owner, rooms)
    members = dict(zip(room_ids, rooms, strict=True))
    rooms_of: dict[str, list[str]] = {u: [] for u in ids}
    for rid, ms in members.items():
        for u in ms:
            rooms_of[u].append(rid)
    tally = Tally()
    pupils = {u: Pupil(port, u, tok, rooms_of[u], tally) for u, tok in users}
    connect_s = await connect_all(list(pupils.values()))

    stop = asyncio.Event()
    active = rng.sample(ids, max(1, n // 10))

    async def speak(user: str, k0: int) -> None:
        r = random.Random(k0)
        p, k = pupils[user], 0
        due = time.monotonic() + r.expovariate(1 / 5)
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stop.is_set():
                return
            await p.up.wait()
            tally.lag.append((time.monotonic() - due) * 1000)
            try:
                await p.send(r.choice(p.rooms), f"{k0}:{k}", typing=typing)
            except websockets.ConnectionClosed:
                pass  # dropped meanwhile: the message was not sent, so it is not expected
            k += 1
            due += r.expovariate(1 / 5)

    async def churn() -> None:
        per_second = churn_per_minute * n / 60
        if not per_second:
            return
        r = random.Random(seed + 1)
        flights: list[asyncio.Task[None]] = []

        async def bounce(p: Pupil) -> None:
            await p.drop()
            await asyncio.sleep(r.uniform(0.5, 2.0))
            try:
                await p.connect()
                tally.reconnects += 1
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                tally.error(f"reconnect:{type(exc).__name__}")

        while not stop.is_set():
            await asyncio.sleep(r.expovariate(per_second))
            p = pupils[r.choice(ids)]
            if p.up.is_set() and not stop.is_set():
                flights.append(asyncio.create_task(bounce(p)))
        await asyncio.gather(*flights, return_exceptions=True)

    cpu0, t0 = _cpu(), time.perf_counter()
    tasks = [asyncio.create_task(speak(u, i)) for i, u in enumerate(active)]
    churner = asyncio.create_task(churn())
    await asyncio.sleep(duration)
    stop.set()
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    await asyncio.gather(*tasks, churner, return_exceptions=True)
    drained = await settle(tally, drain)
    await asyncio.gather(*(p.close() for p in pupils.values()), return_exceptions=True)
    sizes = [len(m) for m in rooms]
    return {"sockets": n, "rooms": len(rooms), "room_sizes": {"min": min(sizes), "max": max(sizes),
            "mean": round(sum(sizes) / len(sizes), 1)}, "active_users": len(active),
            "duration_s": duration, "drain_s": drained, "connect_s": round(connect_s, 1),
            **summary(tally, members, wall, cpu)}


async def ceiling(port: int, owner: str, secret: str, rates: list[int], step: float,
                  drain: float, cpu_pids: dict[str, int], n: int = 600) -> list[dict[str, Any]]:
    users = await make_users(owner, n, secret)
    ids = [u for u, _ in users]
    rooms = [ids[i:i + 6] for i in range(0, n - n % 6, 6)]
    room_ids = await write_rooms(owner, rooms)
    members = dict(zip(room_ids, rooms, strict=True))
    out = []
    for rate in rates:
        row = await _ceiling_step(port, users[:len(rooms) * 6], room_ids, members, rate, step, drain,
                                  cpu_pids)
        print(f"ceiling {rate}/s: {json.dumps(row)}", flush=True)
        out.append(row)
        if not row["holds"]:
            break
    return out


async def sql_limit(owner: str, app_url: str, secret: str, batches: list[int], seconds: float,
                    conns: int, n: int = 600) -> list[dict[str, Any]]:
    """The database's own limit for the messages' SQL: what the server's group commit runs per
    batch (role switch, ``chat_send_messages()`` with ``B`` messages for random rooms of 6,
    the batch's events NOTIFYed, commit), over ``conns`` connections of the server's login
    role in a closed loop, with no HTTP, WebSocket or fan-out."""
    users = await make_users(owner, n, secret)
    ids = [u for u, _ in users]
    rooms = [ids[i:i + 6] for i in range(0, n - n % 6, 6)]
    room_ids = await write_rooms(owner, rooms)
    out = []
    for batch in batches:
        stop = time.monotonic() + seconds
        counts = [0] * conns

        async def loop(k: int, batch: int = batch, stop: float = stop,
                       counts: list[int] = counts) -> None:
            rng = random.Random(k)
            conn = await asyncpg.connect(app_url)
            try:
                while time.monotonic() < stop:
                    items = []
                    for j in range(batch):
                        r = rng.randrange(len(room_ids))
                        sender = rng.choice(rooms[r])
                        items.append({
                            "sub": sender, "session": str(workload.session_for(uuid.UUID(sender))),
                            "claims": {"sub": sender, "role": "authenticated"},
                            "room_id": room_ids[r], "content": f"sql {k}:{j}",
                            "message_type": "text", "file_id": None, "key": None})
                    async with conn.transaction():
                        await conn.execute(
                            "SELECT set_config('role', 'service_role', true),"
                            " set_config('request.jwt.claims', '{\"role\": \"service_role\"}', true)")
                        result = orjson.loads(await conn.fetchval(
                            "SELECT public.chat_send_messages($1::jsonb)::text",
                            orjson.dumps(items).decode()))
                        bodies = [orjson.dumps({"ch": f"room:{e['room_id']}", "ev": e,
                                                "seq": e["seq"]}).decode()
                                  for e in result["events"]]
                        await conn.execute(
                            "SELECT pg_notify('focushub_bench', b) FROM unnest($1::text[]) b",
                            bodies)
                    counts[k] += sum("message" in x for x in result["results"])
            finally:
                await conn.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(loop(k) for k in range(conns)))
        elapsed = time.perf_counter() - t0
        row = {"batch": batch, "connections": conns, "messages": sum(counts),
               "messages_per_s": round(sum(counts) / elapsed, 1)}
        print(f"sql limit: {json.dumps(row)}", flush=True)
        out.append(row)
    return out


async def _ceiling_step(port: int, users: list[tuple[str, str]], room_ids: list[str],
                        members: dict[str, list[str]], rate: int, step: float,
                        drain: float, cpu_pids: dict[str, int]) -> dict[str, Any]:
    """One rate for ``step`` seconds. Besides the deliveries, the CPU time of the server's
    process tree and of PostgreSQL's (the postmaster and its backends) over the step, per
    message sent: what a message costs each side (its deliveries and acknowledgement
    included), comparable between versions where a latency is not."""
    tally = Tally()
    pupils = [Pupil(port, u, tok, [room_ids[i // 6]], tally) for i, (u, tok) in enumerate(users)]
    await connect_all(pupils)
    stop = asyncio.Event()
    gap = len(pupils) / rate  # each socket sends every `gap` seconds

    async def speak(i: int, p: Pupil) -> None:
        r = random.Random(i)
        due, k = time.monotonic() + r.random() * gap, 0
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stop.is_set():
                return
            tally.lag.append((time.monotonic() - due) * 1000)
            await p.send(p.rooms[0], f"{rate}:{i}:{k}", typing=False)
            k += 1
            due += gap

    trees0 = {k: loadgen.tree_cpu(pid) for k, pid in cpu_pids.items()}
    cpu0, t0 = _cpu(), time.perf_counter()
    tasks = [asyncio.create_task(speak(i, p)) for i, p in enumerate(pupils)]
    await asyncio.sleep(step)
    stop.set()
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    await asyncio.gather(*tasks, return_exceptions=True)
    sent_in_step = len(tally.sent)
    # The messages of the step are in flight for a moment after it: their cost is counted
    # once they are all acknowledged (or the drain gives up).
    for _ in range(100):
        if len(tally.acked) >= sent_in_step:
            break
        await asyncio.sleep(0.02)
    trees = {k: loadgen.tree_cpu(pid) - trees0[k] for k, pid in cpu_pids.items()}
    drained = await settle(tally, drain)
    await asyncio.gather(*(p.close() for p in pupils), return_exceptions=True)
    row = {"rate_target": rate, "sockets": len(pupils), "step_s": step, "drain_s": drained,
           **summary(tally, members, wall, cpu),
           "cpu_ms_per_message": {k: round(1000 * v / max(1, sent_in_step), 3)
                                  for k, v in trees.items()}}
    row["holds"] = (row["lost"] == 0 and row["duplicated"] == 0 and row["out_of_order"] == 0
                    and not row["client_bound"] and (row["live"]["p99"] or 1e9) <= 250)
    return row


def server_rss_mib(pid: int) -> float:
    total = 0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "python" in child.name() or "focushub" in " ".join(child.cmdline()[:3]):
                total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


async def idle(port: int, owner: str, secret: str, n: int, hold: float, server_pid: int,
               users_n: int = 2000) -> dict[str, Any]:
    users = await make_users(owner, users_n, secret)
    ids = [u for u, _ in users]
    room_ids = await write_rooms(owner, [ids[i:i + 5] for i in range(0, len(ids), 5)])
    await asyncio.sleep(2)
    before = server_rss_mib(server_pid)
    tally = Tally()
    pupils = [Pupil(port, users[i % users_n][0], users[i % users_n][1],
                    [room_ids[(i % users_n) // 5]], tally) for i in range(n)]
    connect_s = await connect_all(pupils, at_once=200)
    await asyncio.sleep(hold)
    after = server_rss_mib(server_pid)
    alive = 0

    async def ping(p: Pupil) -> None:
        nonlocal alive
        waiter = asyncio.get_running_loop().create_future()
        original = p.handle

        def watch(frame: dict[str, Any], pending: set[str] | None = None) -> None:
            if frame.get("type") == "pong" and not waiter.done():
                waiter.set_result(True)
            original(frame, pending)

        p.handle = watch  # type: ignore[method-assign]
        try:
            await p.ws.send('{"type": "ping"}')
            await asyncio.wait_for(waiter, 30)
            alive += 1
        except (TimeoutError, websockets.ConnectionClosed):
            tally.error("no_pong")

    await asyncio.gather(*(ping(p) for p in pupils))
    await asyncio.gather(*(p.close() for p in pupils), return_exceptions=True)
    return {"sockets": n, "connect_s": round(connect_s, 1), "hold_s": hold,
            "server_rss_before_mib": round(before, 1), "server_rss_after_mib": round(after, 1),
            "kib_per_socket": round((after - before) * 1024 / n, 1), "answered_ping": alive,
            "errors": tally.errors}


# ------------------------------------------------------------------------------ main
def _client_run(coro: Any) -> Any:
    """Run the clients on uvloop (with orjson for their frames) and without the cyclic
    garbage collector (``workload.collector_off``)."""
    with workload.collector_off():
        return uvloop.run(coro)


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench/school.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=RESULTS / "school-pgdata")
    ap.add_argument("--sockets", type=int, default=2000, help="school day sockets (0 to skip)")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--drain", type=float, default=5.0)
    ap.add_argument("--no-typing", action="store_true", help="messages without a typing event")
    ap.add_argument("--churn", type=float, default=0.05,
                    help="share of the sockets that drop and resume per minute")
    ap.add_argument("--ceiling", default="250,500,750,1000,1500,2000,3000",
                    help="total messages/s, in turn ('' to skip)")
    ap.add_argument("--step", type=float, default=15.0)
    ap.add_argument("--sql-limit", default="",
                    help="batch sizes for the database's own limit on the messages' SQL"
                         " ('' to skip), e.g. 1,10,50")
    ap.add_argument("--idle", type=int, default=10000, help="idle sockets (0 to skip)")
    ap.add_argument("--hold", type=float, default=45.0)
    ap.add_argument("--bus", choices=["pg", "redis"], default="pg")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limits", action="store_true",
                    help="write limits on, as in production (each message checked and counted),"
                         " at rates no sender reaches")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it too
    RESULTS.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(args.data_dir.resolve())
    pg.start()
    result: dict[str, Any] = {"machine": suite._machine(), "bus": args.bus, "workers": args.workers,
                              "write_limits": args.limits,
                              "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "load_average_before": [round(x, 2) for x in os.getloadavg()]}

    def fresh_server() -> tuple[Any, int, str, str]:
        asyncio.run(bootstrap.drop_database(pg.url(), "focushub"))
        asyncio.run(bootstrap.ensure_database(pg.url(), "focushub"))
        owner = pg.url(database="focushub")
        runner.upgrade(owner)
        asyncio.run(bootstrap.ensure_login_role(owner))
        app_url = bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)
        secret = secrets.token_urlsafe(48)
        port = suite._free_port()
        env = {"FOCUSHUB_DATABASE_URL": app_url, "FOCUSHUB_MIGRATION_DATABASE_URL": owner,
               "FOCUSHUB_JWT_SECRET": secret, "FOCUSHUB_LOG_LEVEL": "warning",
               "FOCUSHUB_WRITE_LIMITS_ENABLED": "true" if args.limits else "false"}
        if args.limits:
            # Counted and checked per message as in production, at rates no sender reaches.
            env.update(FOCUSHUB_WRITE_RATE_MESSAGE="100000000/60",
                       FOCUSHUB_WRITE_RATE_NEW_MESSAGE="100000000/60")
        if args.bus == "redis":
            env["FOCUSHUB_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        proc = suite._server([str(suite.ROOT / ".venv/bin/focushub"), "serve", "--workers",
                              str(args.workers), "--port", str(port)], env, port, "/readyz",
                             RESULTS / "school-api.log")
        return proc, port, owner, secret

    try:
        if args.sockets:
            proc, port, owner, secret = fresh_server()
            try:
                with suite.RssSampler(proc.pid) as rss:
                    r = _client_run(school_day(port, owner, secret, args.sockets, args.duration,
                                               args.drain, args.churn, not args.no_typing))
                r["server_rss_max_mib"] = round(max(rss.max_mib.values(), default=0.0), 1)
                print(f"school day: {json.dumps(r)}", flush=True)
                result["school_day"] = r
            finally:
                suite._stop(proc)
        rates = [int(x) for x in args.ceiling.split(",") if x]
        if rates:
            proc, port, owner, secret = fresh_server()
            try:
                postmaster = int((pg.pgdata / "postmaster.pid").read_text().split()[0])
                result["ceiling"] = _client_run(ceiling(port, owner, secret, rates, args.step,
                                                        args.drain, {"server": proc.pid,
                                                                     "postgres": postmaster}))
            finally:
                suite._stop(proc)
        sizes = [int(x) for x in args.sql_limit.split(",") if x]
        if sizes:
            proc, port, owner, secret = fresh_server()
            suite._stop(proc)  # the database only
            app_url = bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)
            result["sql_limit"] = asyncio.run(sql_limit(owner, app_url, secret, sizes,
                                                        args.step, 2 * args.workers))
        if args.idle:
            proc, port, owner, secret = fresh_server()
            try:
                r = _client_run(idle(port, owner, secret, args.idle, args.hold, proc.pid))
                print(f"idle: {json.dumps(r)}", flush=True)
                result["idle"] = r
            finally:
                suite._stop(proc)
    finally:
        pg.stop()
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = args.json or RESULTS / f"school-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
