"""Fan-out between server processes: two real ``focushub serve`` processes on one database.

A message sent through one process reaches a WebSocket on the other, through
PostgreSQL LISTEN/NOTIFY (the default) and through Redis pub/sub (when
FOCUSHUB_REDIS_URL is set; skipped when 127.0.0.1:6379 does not answer).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.api.conftest import make_user
from tests.conftest import ROOT
from tests.realtime.conftest import JWT_SECRET, TIMEOUT, free_port, ready_ws

if TYPE_CHECKING:
    from tests.conftest import TestDatabase

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT = 60.0


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def serve_two(test_db: TestDatabase, redis_url: str | None,
              extra_env: dict[str, str] | None = None):
    """Two ``focushub serve`` processes (:func:`serve_processes`)."""
    return serve_processes(test_db, redis_url, extra_env, count=2)


@contextmanager
def serve_processes(test_db: TestDatabase, redis_url: str | None,
                    extra_env: dict[str, str] | None = None, *, count: int,
                    args: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Run ``count`` ``focushub serve`` processes (with ``args``) on free ports; yield their
    base URLs; always stop them (SIGTERM, then SIGKILL after 10 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    env.update({
        "FOCUSHUB_ENV": "test",
        "FOCUSHUB_DATABASE_URL": test_db.app_url,
        "FOCUSHUB_MIGRATION_DATABASE_URL": test_db.owner_url,
        "FOCUSHUB_JWT_SECRET": JWT_SECRET,
        "FOCUSHUB_LOG_LEVEL": "WARNING",
        "FOCUSHUB_DB_POOL_SIZE": "3",
    })
    if redis_url:
        env["FOCUSHUB_REDIS_URL"] = redis_url
    env.update(extra_env or {})
    procs: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "focushub", "serve", "--host", "127.0.0.1", "--port", str(port),
                 *args],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ))
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT
        for proc, base in zip(procs, bases, strict=True):
            while True:
                if proc.poll() is not None:
                    assert proc.stderr is not None
                    raise RuntimeError(f"focushub serve exited: {proc.stderr.read().decode()[-2000:]}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("focushub serve did not start in time")
                time.sleep(0.1)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_a_message_sent_through_one_process_reaches_a_socket_on_the_other(test_db, backend):
    if backend == "redis" and not redis_answers():
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    redis_url = REDIS_URL if backend == "redis" else None
    with serve_two(test_db, redis_url) as (one, two):
        async with httpx.AsyncClient(base_url=one, timeout=TIMEOUT) as http_one:
            alice, bob = await make_user(http_one), await make_user(http_one)
            room = await http_one.post("/api/v1/chat/rooms", json={"type": "direct", "user_id": bob["user"]["id"]},
                                       headers=alice["headers"])
            room_id = room.json()["id"]
            ws = await ready_ws(two.replace("http", "ws") + "/api/v1/realtime", bob["access_token"])
            try:
                await ws.subscribe(room_id)
                # One small message, and one over NOTIFY's 8,000-byte limit.
                for content in ("across processes", "ü" * 9000):
                    sent = await http_one.post(f"/api/v1/chat/rooms/{room_id}/messages",
                                               json={"content": content}, headers=alice["headers"])
                    assert sent.status_code == 201
                    frames = await ws.recv_until(lambda f: f["type"] == "message.created")
                    assert frames[-1]["data"]["content"] == content
                    assert frames[-1]["data"]["id"] == sent.json()["id"]
            finally:
                await ws.close()
