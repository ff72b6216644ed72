"""Faults injected into a real ``focushub serve`` on its embedded PostgreSQL.

Each test copies a migrated data directory, starts real server processes on it and
writes through HTTP; "acknowledged" is a 2xx the client saw. Waits are for events
(an answer, a log line, a process exit), bounded only so that a broken build fails
instead of hanging; how long recovery takes is measured by ``bench/faults.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.devdb.conftest import exited, postgres_procs_under, postmasters_under, wait_until
from tests.devdb.serving import (
    RECOVERY_BOUND,
    Served,
    WriteLoop,
    copy_template,
    create,
    fetch,
    follow,
    make_template,
    miscounts,
    missing,
    postmaster_pid,
    serve,
    sign_up,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "data"
    make_template(data_dir)
    return data_dir


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Iterator[Path]:
    data_dir = copy_template(template, tmp_path / "data")
    yield data_dir
    for proc in postgres_procs_under(tmp_path):  # whatever a failed test left running
        # Killing the postmaster ends its children: one listed may be gone by its turn.
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.kill()


def comment_writer(post_id: str, headers: dict[str, str]):
    """Comments on one post; every third one a reply to the first (two counters move)."""
    first: list[str] = []

    def write(client: httpx.Client, n: int) -> httpx.Response:
        body: dict[str, Any] = {"content": f"comment {n}"}
        if first and n % 3 == 0:
            body["parent_id"] = first[0]
        r = client.post(f"/api/v1/posts/{post_id}/comments", headers=headers, json=body)
        if r.status_code == 201 and not first:
            first.append(r.json()["id"])
        return r

    return write


def message_writer(room_id: str, headers: dict[str, str]):
    def write(client: httpx.Client, n: int) -> httpx.Response:
        return client.post(f"/api/v1/chat/rooms/{room_id}/messages", headers=headers,
                           json={"content": f"message {n}"})

    return write


def test_the_database_killed_under_a_write_loop_recovers_without_losing_an_acknowledged_write(
    data_dir: Path, servers: list[Served]
) -> None:
    served = serve(data_dir)
    servers.append(served)
    author = sign_up(served.base_url)
    post = create(served.base_url, "/api/v1/posts", author["headers"],
                  {"title": "Crash notes", "content": "Written while the database dies"})
    loop = WriteLoop(served.base_url, comment_writer(post["id"], author["headers"])).start()
    try:
        assert wait_until(lambda: len(loop.acked()) >= 20, RECOVERY_BOUND)
        old_pid = postmaster_pid(data_dir)
        mark = len(loop.results)
        os.kill(old_pid, signal.SIGKILL)

        def outage_seen() -> bool:
            return 503 in loop.statuses(mark)

        def recovered() -> bool:
            after = loop.statuses(mark)
            return 503 in after and any(s == 201 for s in after[after.index(503):])

        assert wait_until(outage_seen, RECOVERY_BOUND), "no request saw the database gone"
        assert wait_until(recovered, RECOVERY_BOUND), served.output()[-3000:]
        target = len(loop.acked()) + 20
        assert wait_until(lambda: len(loop.acked()) >= target, RECOVERY_BOUND)
    finally:
        loop.stop()

    assert served.proc.poll() is None  # the same server process throughout
    statuses = loop.statuses()
    assert set(statuses) <= {201, 503}, sorted(set(statuses))  # never a 500, never no answer
    new_pid = postmaster_pid(data_dir)
    assert new_pid != old_pid and exited(old_pid)
    assert postmasters_under(data_dir) == [new_pid]
    output = served.output()
    assert f"PostgreSQL (pid {old_pid})" in output and "died unexpectedly" in output
    assert "restarted after a crash" in output

    assert missing(data_dir, "comments", loop.acked()) == []
    assert miscounts(data_dir) == []
    assert served.terminate() == 128 + signal.SIGTERM
    assert wait_until(lambda: exited(new_pid), RECOVERY_BOUND)  # last user: stopped with it


class Listener:
    """A WebSocket client that records every frame it receives on its own thread."""

    def __init__(self, base_url: str, token: str) -> None:
        ws_url = base_url.replace("http://", "ws://") + "/api/v1/realtime"
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(f"{ws_url}?access_token={token}", open_timeout=30))
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                self.frames.append(orjson.loads(raw))
        except ConnectionClosed as exc:
            self.closed = exc.rcvd.code if exc.rcvd else -1
        else:
            self.closed = self.ws.close_code or 1000

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(orjson.dumps(frame).decode())

    def first(self, kind: str) -> dict[str, Any] | None:
        return next((f for f in list(self.frames) if f.get("type") == kind), None)

    def messages(self) -> list[dict[str, Any]]:
        return [f for f in list(self.frames) if f.get("type") == "message.created"]

    def close(self) -> None:
        self._stack.close()
        self.thread.join(10)


def send_until_acked(base_url: str, room_id: str, headers: dict[str, str], n: int) -> dict[str, Any]:
    """One message, retried with the same idempotency key until it is acknowledged."""
    body = {"content": f"after the crash {n}", "idempotency_key": f"fault-{n}"}
    result: list[dict[str, Any]] = []

    def attempt() -> bool:
        r = httpx.post(f"{base_url}/api/v1/chat/rooms/{room_id}/messages", headers=headers,
                       json=body, timeout=30)
        assert r.status_code in (200, 201, 503), r.text
        if r.status_code in (200, 201):
            result.append(r.json())
        return bool(result)

    assert wait_until(attempt, RECOVERY_BOUND)
    return result[0]


def test_a_subscribed_socket_gets_what_is_written_after_the_database_restarts(
    data_dir: Path, servers: list[Served]
) -> None:
    served = serve(data_dir)
    servers.append(served)
    base = served.base_url
    alice, bob = sign_up(base), sign_up(base)
    follow(base, bob, alice)  # a member of her group, not invited to it
    room = create(base, "/api/v1/chat/rooms", alice["headers"],
                  {"type": "group", "name": "Night shift", "member_ids": [bob["user"]["id"]]})
    listener = Listener(base, bob["access_token"])
    try:
        listener.send({"type": "subscribe", "room_id": room["id"]})
        assert wait_until(lambda: listener.first("subscribed") is not None, RECOVERY_BOUND)
        before = send_until_acked(base, room["id"], alice["headers"], 0)
        assert wait_until(lambda: len(listener.messages()) == 1, RECOVERY_BOUND)
        last_seq_before = listener.messages()[0]["seq"]
        assert listener.messages()[0]["data"]["id"] == before["id"]

        os.kill(postmaster_pid(data_dir), signal.SIGKILL)
        acked: list[dict[str, Any]] = []

        def socket_has_every_acked_message() -> bool:
            # Keep writing: the first live event after the bus resubscribed makes the
            # socket load any it missed while the listener was reconnecting.
            acked.append(send_until_acked(base, room["id"], alice["headers"], len(acked) + 1))
            received = {m["data"]["id"] for m in listener.messages()}
            return {m["id"] for m in acked} <= received

        assert wait_until(socket_has_every_acked_message, RECOVERY_BOUND), served.output()[-3000:]
        assert listener.closed is None  # the same socket, subscribed before the crash
        seqs = [m["seq"] for m in listener.messages()]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # in order, none twice
        assert "events: reconnected to PostgreSQL" in served.output()
    finally:
        listener.close()

    # A client that saw only the message before the crash resumes from its seq.
    resumed = Listener(base, bob["access_token"])
    try:
        resumed.send({"type": "subscribe", "room_id": room["id"], "last_seq": last_seq_before})
        want = [m["id"] for m in acked]
        assert wait_until(lambda: [m["data"]["id"] for m in resumed.messages()] == want,
                          RECOVERY_BOUND), resumed.frames
    finally:
        resumed.close()
    assert miscounts(data_dir) == []


def test_an_api_process_killed_mid_write_leaves_nothing_half_written(
    data_dir: Path, servers: list[Served]
) -> None:
    first = serve(data_dir, "first")
    servers.append(first)
    base = first.base_url
    alice, bob = sign_up(base), sign_up(base)
    post = create(base, "/api/v1/posts", alice["headers"],
                  {"title": "Interrupted", "content": "The server dies under these comments"})
    follow(base, bob, alice)  # a member of her group, not invited to it
    room = create(base, "/api/v1/chat/rooms", alice["headers"],
                  {"type": "group", "name": "Interrupted", "member_ids": [bob["user"]["id"]]})
    loops = [
        WriteLoop(base, comment_writer(post["id"], alice["headers"])),
        WriteLoop(base, comment_writer(post["id"], bob["headers"])),
        WriteLoop(base, message_writer(room["id"], alice["headers"])),
        WriteLoop(base, message_writer(room["id"], bob["headers"])),
    ]
    for loop in loops:
        loop.start()
    try:
        assert wait_until(lambda: all(len(loop.acked()) >= 10 for loop in loops), RECOVERY_BOUND)
        database = postmaster_pid(data_dir)
        first.proc.send_signal(signal.SIGKILL)  # in the middle of four writes
        first.proc.wait(30)
        assert wait_until(lambda: all(0 in loop.statuses() for loop in loops), RECOVERY_BOUND)
    finally:
        for loop in loops:
            loop.stop()
    assert postmaster_pid(data_dir) == database  # the database did not notice

    second = serve(data_dir, "second")
    servers.append(second)
    assert "Reusing PostgreSQL" in second.output()
    assert missing(data_dir, "comments", loops[0].acked() + loops[1].acked()) == []
    assert missing(data_dir, "chat_messages", loops[2].acked() + loops[3].acked()) == []
    assert miscounts(data_dir) == []
    # The API still works on what the killed process left.
    r = httpx.get(f"{second.base_url}/api/v1/chat/rooms/{room['id']}/messages",
                  headers=bob["headers"], timeout=30)
    assert r.status_code == 200
    statuses = {s for loop in loops for s in loop.statuses()}
    assert statuses <= {201, 0}, statuses


def test_two_servers_on_one_data_directory_share_one_database(
    data_dir: Path, servers: list[Served]
) -> None:
    one = serve(data_dir, "one")
    servers.append(one)
    two = serve(data_dir, "two")
    servers.append(two)
    database = postmaster_pid(data_dir)
    assert postmasters_under(data_dir) == [database]
    assert "Reusing PostgreSQL" in two.output()

    author = sign_up(one.base_url)
    post = create(one.base_url, "/api/v1/posts", author["headers"],
                  {"title": "Shared", "content": "Seen from both servers"})
    r = httpx.get(f"{two.base_url}/api/v1/posts/{post['id']}", timeout=30)
    assert r.status_code == 200 and r.json()["title"] == "Shared"

    # Stopping one leaves the database to the other.
    assert one.terminate() == 128 + signal.SIGTERM
    assert "other users remain" in one.output()
    assert postmaster_pid(data_dir) == database
    comment = create(two.base_url, f"/api/v1/posts/{post['id']}/comments", author["headers"],
                     {"content": "still here"})

    # The survivor's watchdog restarts the database it did not start.
    os.kill(database, signal.SIGKILL)
    loop = WriteLoop(two.base_url, comment_writer(post["id"], author["headers"])).start()
    try:
        assert wait_until(lambda: len(loop.acked()) >= 5, RECOVERY_BOUND), two.output()[-3000:]
    finally:
        loop.stop()
    restarted = postmaster_pid(data_dir)
    assert restarted != database and postmasters_under(data_dir) == [restarted]
    # Said once the watchdog saw it ready, which can be just after the API's first writes.
    assert wait_until(lambda: "restarted after a crash" in two.output(), RECOVERY_BOUND)
    assert missing(data_dir, "comments", [comment["id"], *loop.acked()]) == []
    assert miscounts(data_dir) == []

    assert two.terminate() == 128 + signal.SIGTERM  # the last user stops the database
    assert wait_until(lambda: exited(restarted), RECOVERY_BOUND)
    assert postgres_procs_under(data_dir) == []


def test_jobs_still_run_after_the_database_restarts(
    data_dir: Path, servers: list[Served]
) -> None:
    served = serve(data_dir)
    servers.append(served)

    def mail_sent() -> bool:
        rows = fetch(data_dir, "SELECT status::text FROM procrastinate.procrastinate_jobs"
                               " WHERE task_name = 'mail.send'")
        return bool(rows) and all(r["status"] == "succeeded" for r in rows)

    sign_up(served.base_url)  # queues a verification mail (mail.send)
    if not wait_until(mail_sent, RECOVERY_BOUND):
        pytest.fail("the job did not run even before the crash")  # not the expected failure
    database = postmaster_pid(data_dir)
    os.kill(database, signal.SIGKILL)
    assert wait_until(lambda: served.ready() and postmaster_pid(data_dir) != database,
                      RECOVERY_BOUND)
    sign_up(served.base_url)
    assert wait_until(mail_sent, 20.0)
