"""Realtime fixtures: the app served by a real uvicorn on loopback, real WebSocket clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from focushub.app import create_app
from focushub.core.db import create_engine
from focushub.core.events import EventBus
from focushub.core.settings import Settings
from focushub.realtime import gateway
from tests.conftest import TestDatabase

JWT_SECRET = "test-secret-" + "x" * 40
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    ws_url: str
    app: Any


@contextmanager
def serve_in_thread(settings: Settings) -> Iterator[LiveServer]:
    """The app under a real uvicorn in a thread with its own event loop, engine and bus;
    stopped on exit."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on",
                                           **gateway.server_options(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/api/v1/realtime", app)
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def live_server(test_db: TestDatabase) -> Iterator[LiveServer]:
    """One server in a thread (PostgreSQL fan-out)."""
    with serve_in_thread(Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                                  db_pool_size=5, db_max_overflow=10)) as server:
        yield server


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=TIMEOUT) as client:
        yield client


class WsClient:
    """A WebSocket client that reads JSON frames with a timeout on every wait."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.conn.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def recv(self) -> dict[str, Any]:
        return orjson.loads(await asyncio.wait_for(self.conn.recv(), TIMEOUT))

    async def recv_until(self, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Frames up to and including the first one matching ``pred``."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if pred(frame):
                return frames

    async def subscribe(self, room_id: str, last_seq: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "subscribe", "room_id": room_id}
        if last_seq is not None:
            frame["last_seq"] = last_seq
        await self.send(frame)
        frames = await self.recv_until(lambda f: f["type"] in ("subscribed", "error"))
        return frames[-1]

    async def close(self) -> None:
        await self.conn.close()


async def open_ws(ws_url: str, token: str | None = None, **kwargs: Any) -> WsClient:
    url = ws_url if token is None else f"{ws_url}?access_token={token}"
    conn = await asyncio.wait_for(connect(url, open_timeout=TIMEOUT, **kwargs), TIMEOUT)
    return WsClient(conn)


async def ready_ws(ws_url: str, token: str) -> WsClient:
    ws = await open_ws(ws_url, token)
    frame = await ws.recv()
    assert frame["type"] == "ready", frame
    return ws


@pytest.fixture
async def engine(test_db) -> AsyncIterator[Any]:
    engine = create_engine(test_db.app_url, pool_size=8, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def two_buses(test_db) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """The buses of two server processes (PostgreSQL fan-out)."""
    buses = (EventBus(database_url=test_db.app_url), EventBus(database_url=test_db.app_url))
    for bus in buses:
        await bus.start()
    try:
        yield buses
    finally:
        for bus in buses:
            await bus.stop()
