"""The embedded database killed under load, again and again: how fast the API recovers, and
whether anything it acknowledged is lost.

    .venv/bin/python bench/faults.py [--cycles 10] [--writers 4] [--settle 12]

Starts ``focushub serve`` on a fresh embedded database in a temporary data directory
(``--data-dir`` to choose one), signs up one account per writer, and runs ``--writers``
closed-loop HTTP clients, each commenting on its own post as fast as the server answers
(every fourth comment a reply, so two counters move), never retrying. Each cycle waits
``--settle`` seconds of normal service, then ``kill -9``s the postmaster; the server's
watchdog restarts it. A probe connects to the database's socket every 10 ms with
``SELECT 1`` and marks the moment it answers again ("database back").

Per cycle: outage (kill → database back) and recovery (database back → the end of the
first 2xx answer after it); when no 2xx ends after the database is back before the next
kill, the cycle has no recovery time and is reported as such. At the end, with the load
stopped: every acknowledged comment (a 2xx seen by the client) is looked up in the
database (lost = acknowledged and absent), ``posts.comments_count`` and
``comments.replies_count`` are compared with recounts, and answers are tallied by status
(0 = no HTTP answer). Comments the database holds but the client never saw acknowledged
(the commit happened, the answer was a 503 because the connection died right after) are
counted as "unacknowledged but stored"; they are not a loss.

The probe and the writers run in this one process, on one clock. The host is shared: the
times vary from run to run; the counts (lost, 500s) must not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402

PROBE_EVERY = 0.01  # seconds between probe connections while the database is down


@dataclass
class Answer:
    started: float
    ended: float
    status: int  # 0: no HTTP answer
    id: str | None


@dataclass
class Cycle:
    killed: float
    back: float | None = None
    first_2xx: float | None = None

    def outage(self) -> float | None:
        return None if self.back is None else self.back - self.killed

    def recovery(self) -> float | None:
        return None if self.back is None or self.first_2xx is None else self.first_2xx - self.back


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    cycles: list[Cycle] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    env.update(FOCUSHUB_DATA_DIR=str(data_dir), FOCUSHUB_WRITE_LIMITS_ENABLED="false")
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "focushub", "serve", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"focushub serve exited:\n{log.read_text()[-3000:]}")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("focushub serve did not become ready")


async def make_writer_state(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    name = "f" + uuid.uuid4().hex[:12]
    r = await client.post("/api/v1/auth/signup", json={
        "email": f"{name}@example.org", "password": "correct horse battery",
        "full_name": name, "username": name})
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post("/api/v1/posts", headers=headers,
                          json={"title": f"Fault load {name}", "content": "comments under fire"})
    r.raise_for_status()
    return headers, r.json()["id"]


async def writer(run: Run, base: str, headers: dict[str, str], post_id: str) -> None:
    first: str | None = None
    n = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not run.stop.is_set():
            n += 1
            body: dict[str, Any] = {"content": f"comment {n}"}
            if first is not None and n % 4 == 0:
                body["parent_id"] = first
            started = time.monotonic()
            try:
                r = await client.post(f"/api/v1/posts/{post_id}/comments", headers=headers,
                                      json=body)
                status, id_ = r.status_code, (r.json()["id"] if r.status_code < 300 else None)
            except httpx.TransportError:
                status, id_ = 0, None
            ended = time.monotonic()
            run.answers.append(Answer(started, ended, status, id_))
            if id_ is not None and first is None:
                first = id_
            if status in (0, 503):
                await asyncio.sleep(0.01)  # a client that waits a little before retrying


async def probe_until_back(url: str, since: float) -> float:
    """The first moment after ``since`` that the database answers ``SELECT 1``."""
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=1)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
            now = time.monotonic()
            if now > since:
                return now
        except (OSError, asyncpg.PostgresError):  # TimeoutError is an OSError
            pass
        await asyncio.sleep(PROBE_EVERY)


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


async def wait_dead(pid: int) -> None:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.005)


async def cycles(run: Run, data_dir: Path, url: str, n: int, settle: float) -> None:
    for _ in range(n):
        await asyncio.sleep(settle)
        pid = postmaster_pid(data_dir)
        cycle = Cycle(killed=time.monotonic())
        os.kill(pid, signal.SIGKILL)
        run.cycles.append(cycle)
        # While a database answers under the old PID the kill has not landed yet.
        await wait_dead(pid)
        cycle.back = await probe_until_back(url, cycle.killed)
        while cycle.first_2xx is None:
            done = [a.ended for a in run.answers if 200 <= a.status < 300 and a.ended > cycle.back]
            if done:
                cycle.first_2xx = min(done)
            else:
                await asyncio.sleep(0.01)
    await asyncio.sleep(settle)


async def verify(url: str, acked: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        stored = {r["id"] for r in await conn.fetch("SELECT id::text FROM comments")}
        miscounted = await conn.fetchval("""
            SELECT (SELECT count(*) FROM posts p WHERE p.comments_count <>
                        (SELECT count(*) FROM comments c WHERE c.post_id = p.id))
                 + (SELECT count(*) FROM comments c WHERE c.replies_count <>
                        (SELECT count(*) FROM comments r WHERE r.parent_id = c.id))""")
    finally:
        await conn.close()
    return {"acknowledged": len(acked), "lost": len(set(acked) - stored),
            "unacknowledged_but_stored": len(stored - set(acked)),
            "counters_differing_from_recount": int(miscounted)}


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--writers", type=int, default=4)
    # Longer than the watchdog's 10 s "stable" period: each kill is then a first crash,
    # restarted at once; shorter settles measure its crash-loop backoff instead.
    parser.add_argument("--settle", type=float, default=12.0,
                        help="seconds of normal service before each kill and after the last")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory, removed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    tmp = None if args.data_dir else Path(tempfile.mkdtemp(prefix="focushub-faults-"))
    data_dir = (args.data_dir or tmp / "data").resolve()  # type: ignore[operator]
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir.parent, 0o755)  # the embedded server may run as another user
    log = data_dir.parent / "faults-serve.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data_dir, port, log)
    run = Run()
    try:
        await wait_ready(base, proc, log)
        url = EmbeddedPostgres(data_dir).url(database="focushub")
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            states = [await make_writer_state(client) for _ in range(args.writers)]
        tasks = [asyncio.create_task(writer(run, base, h, p)) for h, p in states]
        await cycles(run, data_dir, url, args.cycles, args.settle)
        run.stop.set()
        await asyncio.gather(*tasks)
        server_alive = proc.poll() is None
        acked = [a.id for a in run.answers if a.id is not None]
        checks = await verify(url, acked)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
    output = log.read_text(errors="replace")
    statuses: dict[str, int] = {}
    for a in run.answers:
        statuses[str(a.status)] = statuses.get(str(a.status), 0) + 1
    recoveries = [c.recovery() for c in run.cycles]
    result = {
        "cycles": len(run.cycles), "writers": args.writers, "settle_s": args.settle,
        "server_process_survived": server_alive,
        "outage_s": summary([o for c in run.cycles if (o := c.outage()) is not None]),
        "recovery_s": summary([r for r in recoveries if r is not None]),
        "cycles_without_recovery": sum(r is None for r in recoveries),
        "per_cycle": [{"outage_s": c.outage(), "recovery_s": c.recovery()} for c in run.cycles],
        "requests": len(run.answers), "statuses": dict(sorted(statuses.items())),
        "restarts_logged": output.count("restarted after a crash"),
        "event_bus_reconnects_logged": output.count("events: reconnected to PostgreSQL"),
        **checks,
    }
    print(f"{len(run.cycles)} kill -9 cycles, {args.writers} writers, {len(run.answers)} requests")
    for name in ("outage_s", "recovery_s"):
        s = result[name]
        if s:
            print(f"  {name.replace('_s', '')} (s): min {s['min']:.3f}  median {s['median']:.3f}"
                  f"  max {s['max']:.3f}")
    print(f"  cycles without a 2xx after the database came back: {result['cycles_without_recovery']}")
    print(f"  answers by status: {result['statuses']}  (500s: {statuses.get('500', 0)})")
    print(f"  acknowledged {checks['acknowledged']}, lost {checks['lost']}, "
          f"unacknowledged but stored {checks['unacknowledged_but_stored']}, "
          f"counters differing from a recount {checks['counters_differing_from_recount']}")
    print(f"  server process survived: {server_alive}; restarts logged: "
          f"{result['restarts_logged']}; event bus reconnects logged: "
          f"{result['event_bus_reconnects_logged']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"  server log: {log}")


if __name__ == "__main__":
    asyncio.run(main())
