"""``focushub serve`` as real subprocesses on an embedded database, and clients that write to it.

Used by the fault tests: every write a client sends is recorded with the answer it got,
so "acknowledged" means exactly "the client saw a 2xx".
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from focushub.devdb.supervisor import EmbeddedPostgres
from tests.devdb.conftest import ROOT, wait_until
from tests.realtime.conftest import free_port

# Bounds for waits that would otherwise hang a broken test; nothing is asserted about them.
READY_BOUND = 120.0
RECOVERY_BOUND = 60.0
PASSWORD = "correct horse battery"


def serve_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    env.update(FOCUSHUB_DATA_DIR=str(data_dir), FOCUSHUB_WRITE_LIMITS_ENABLED="false")
    return env


def make_template(data_dir: Path) -> None:
    """A migrated embedded database in ``data_dir``, stopped: copied for each test."""
    subprocess.run([sys.executable, "-m", "focushub", "migrate"], cwd=ROOT, env=serve_env(data_dir),
                   check=True, capture_output=True, timeout=READY_BOUND)


def copy_template(template: Path, data_dir: Path) -> Path:
    shutil.copytree(template, data_dir, symlinks=True)
    return data_dir


@dataclass
class Served:
    """One ``focushub serve`` process; its output goes to ``log``."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"focushub serve exited:\n{self.output()[-3000:]}"
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def serve(data_dir: Path, name: str = "serve") -> Served:
    port = free_port()
    log = data_dir.parent / f"{name}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "focushub", "serve", "--port", str(port)],
            cwd=ROOT, env=serve_env(data_dir), stdout=out, stderr=subprocess.STDOUT,
        )
    served = Served(proc, port, data_dir, log)
    if not wait_until(served.ready, READY_BOUND):
        served.kill()
        raise AssertionError(f"focushub serve did not become ready:\n{served.output()[-3000:]}")
    return served


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


def sign_up(base_url: str) -> dict[str, Any]:
    """A fresh account; its session plus ``headers``."""
    name = "u" + uuid.uuid4().hex[:12]
    r = httpx.post(f"{base_url}/api/v1/auth/signup", timeout=30, json={
        "email": f"{name}@example.org", "password": PASSWORD, "full_name": name.upper(),
        "username": name})
    assert r.status_code == 201, r.text
    session = r.json()
    session["headers"] = {"Authorization": f"Bearer {session['access_token']}"}
    return session


def follow(base_url: str, follower: dict[str, Any], followed: dict[str, Any]) -> None:
    """``follower`` follows ``followed`` (so that ``followed`` puts them straight into a group)."""
    r = httpx.put(f"{base_url}/api/v1/users/{followed['user']['id']}/follow",
                  headers=follower["headers"], timeout=30)
    assert r.status_code == 200, r.text


def create(base_url: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{base_url}{path}", headers=headers, json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


Write = Callable[[httpx.Client, int], httpx.Response]


@dataclass
class WriteLoop:
    """Sends ``write(client, n)`` for n = 1, 2, … one after another on its own thread until
    stopped, never retrying, and records ``(status, id)`` of every answer (status 0: no
    answer at all; id only for a 2xx)."""

    base_url: str
    write: Write
    results: list[tuple[int, str | None]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> WriteLoop:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(60)

    def _run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stopping.is_set():
                n += 1
                try:
                    r = self.write(client, n)
                except httpx.TransportError:
                    self.results.append((0, None))
                    time.sleep(0.05)  # the server is gone: do not spin
                    continue
                ok = 200 <= r.status_code < 300
                self.results.append((r.status_code, r.json()["id"] if ok else None))
                if r.status_code == 503:
                    time.sleep(0.05)  # as a client honouring Retry-After would, only sooner

    def acked(self) -> list[str]:
        return [id_ for status, id_ in list(self.results) if id_ is not None]

    def statuses(self, since: int = 0) -> list[int]:
        return [status for status, _ in list(self.results)[since:]]


def db_url(data_dir: Path) -> str:
    """The embedded server's superuser URL for the application's database (no RLS)."""
    return EmbeddedPostgres(data_dir).url(database="focushub")


def fetch(data_dir: Path, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(db_url(data_dir))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


# Stored counters that differ from a recount of what they count, and room event logs that
# are not numbered 1..last_event_seq without gaps, or whose messages lack their event.
MISCOUNTS = """
SELECT 'posts.comments_count' AS counter, p.id::text AS row, p.comments_count AS stored,
       (SELECT count(*) FROM comments c WHERE c.post_id = p.id) AS recount
  FROM posts p
UNION ALL
SELECT 'comments.replies_count', c.id::text, c.replies_count,
       (SELECT count(*) FROM comments r WHERE r.parent_id = c.id)
  FROM comments c
UNION ALL
SELECT 'chat_rooms.last_event_seq', r.id::text, r.last_event_seq,
       (SELECT count(*) FROM chat_room_events e WHERE e.room_id = r.id AND e.seq <= r.last_event_seq)
  FROM chat_rooms r
UNION ALL
SELECT 'chat_room_events beyond last_event_seq', r.id::text, 0,
       (SELECT count(*) FROM chat_room_events e WHERE e.room_id = r.id AND e.seq > r.last_event_seq)
  FROM chat_rooms r
UNION ALL
SELECT 'chat_messages without their message.created event', r.id::text, 0,
       (SELECT count(*) FROM chat_messages m WHERE m.room_id = r.id AND NOT EXISTS (
            SELECT 1 FROM chat_room_events e WHERE e.room_id = m.room_id
               AND e.type = 'message.created' AND e.payload->>'id' = m.id::text))
  FROM chat_rooms r
"""


def miscounts(data_dir: Path) -> list[tuple[str, str, int, int]]:
    rows = fetch(data_dir, MISCOUNTS)
    return [(r["counter"], r["row"], r["stored"], r["recount"]) for r in rows
            if r["stored"] != r["recount"]]


def missing(data_dir: Path, table: str, ids: list[str]) -> list[str]:
    """Of ``ids``, those not in ``table`` (a fixed table name from the test, never input)."""
    rows = fetch(data_dir, f"SELECT id::text FROM {table} WHERE id = ANY($1::uuid[])", ids)
    found = {r["id"] for r in rows}
    return [i for i in ids if i not in found]
