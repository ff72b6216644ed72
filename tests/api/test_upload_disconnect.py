"""A client that goes away in the middle of an upload leaves no row and no object behind.

Run against a real uvicorn server on loopback, with a raw socket that sends half a
multipart body and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import threading
import time
import uuid

import httpx
import pytest
import uvicorn

from focushub.app import create_app
from focushub.core.settings import Settings
from focushub.integrations.storage import S3Store
from tests.api.conftest import JWT_SECRET, make_user
from tests.realtime.conftest import free_port


@pytest.mark.parametrize("backend", ["local", "s3"])
async def test_disconnecting_mid_upload_leaves_nothing(request, backend, test_db, tmp_path,
                                                       owner_conn):
    options: dict = {}
    if backend == "s3":
        options = dict(storage_url=f"s3://fh-{uuid.uuid4().hex[:12]}",
                       s3_endpoint_url=request.getfixturevalue("s3_endpoint"),
                       s3_region="us-east-1", s3_access_key_id="test", s3_secret_access_key="test")
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, worker_in_process=False, **options)
    app = create_app(settings)
    store = app.state.runtime.storage
    if isinstance(store, S3Store):
        await store.ensure_bucket()

    async def objects() -> list[str]:
        return [o.key async for o in store.list()]

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            alice = await make_user(http)
            boundary = "----focushubtest"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhalf\r\n"
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode()
            total = len(head) + 3_000_000
            request = (f"POST /api/v1/resources HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: Bearer {alice['access_token']}\r\n"
                       f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                       f"Content-Length: {total}\r\n\r\n").encode()

            def send_half() -> None:
                with socket.create_connection(("127.0.0.1", port)) as sock:
                    sock.sendall(request + head + b"x" * 1_500_000)
                    time.sleep(0.3)  # the server is reading the body when we vanish

            await asyncio.to_thread(send_half)
            await asyncio.sleep(0.5)
            assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 0
            assert await owner_conn.fetchval("SELECT count(*) FROM resources") == 0
            assert await objects() == []
            # The server is fine and the next upload works.
            r = await http.post("/api/v1/resources", headers=alice["headers"],
                                data={"title": "whole"},
                                files={"file": ("notes.txt", b"all of it", "text/plain")})
            assert r.status_code == 201, r.text
            assert len(await objects()) == 1
    finally:
        server.should_exit = True
        thread.join(15)


def _open_on(path: str) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}") == path
    return count


async def test_a_download_whose_client_goes_away_closes_the_stored_object(test_db, tmp_path):
    """The client reads the headers and a little of a large file, then closes its socket:
    the server's read of the object (here its open file) is closed when the response ends,
    not left until garbage collection (which is off here, as a cycle may delay it)."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, worker_in_process=False)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    gc.disable()
    try:
        for _ in range(300):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            alice = await make_user(http)
            r = await http.post("/api/v1/resources", headers=alice["headers"],
                                data={"title": "large"},
                                files={"file": ("large.txt", b"words " * 2_000_000, "text/plain")})
            assert r.status_code == 201, r.text
            resource_id = r.json()["id"]
            (path,) = [str(p) for p in (tmp_path / "files").rglob("*") if p.is_file()]
            request = (f"GET /api/v1/resources/{resource_id}/file HTTP/1.1\r\n"
                       f"Host: 127.0.0.1\r\nAuthorization: Bearer {alice['access_token']}\r\n"
                       "\r\n").encode()

            def read_a_little_and_leave() -> bytes:
                with socket.create_connection(("127.0.0.1", port)) as sock:
                    sock.sendall(request)
                    got = b""
                    while b"\r\n\r\n" not in got or len(got) < 100_000:
                        got += sock.recv(65536)
                    # The server is sending (the object open) while we vanish.
                    assert _open_on(path) == 1
                    return got

            head = await asyncio.to_thread(read_a_little_and_leave)
            assert head.startswith(b"HTTP/1.1 200")
            for _ in range(200):  # the server notices the client left, then ends the response
                if _open_on(path) == 0:
                    break
                await asyncio.sleep(0.05)
            assert _open_on(path) == 0
            r = await http.get(f"/api/v1/resources/{resource_id}/file", headers=alice["headers"])
            assert r.status_code == 200 and len(r.content) == 12_000_000
    finally:
        gc.enable()
        server.should_exit = True
        thread.join(15)
