"""The server behind a real PgBouncer in transaction pooling mode.

Requests and jobs go through PgBouncer, whose two server sessions all clients share;
the event bus and the job workers' listener connect to PostgreSQL directly
(``FOCUSHUB_DIRECT_DATABASE_URL``). Consecutive transactions of one client land on
different server sessions, so any state kept in a session (a role or claims set for
it, a named prepared statement, a LISTEN) would show here as another caller's rows, an
error, or an event that never arrives.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import psycopg
from psycopg.rows import dict_row

from focushub.core.db import SERVICE
from focushub.core.jobs import QUEUE
from focushub.core.settings import Settings
from focushub.wiring import build_runtime
from tests.api.conftest import follow, make_user
from tests.api.factories_content import make_post
from tests.ops.conftest import POOL_SIZE, PgBouncer
from tests.realtime.conftest import LiveServer, ready_ws

ROOMS = "/api/v1/chat/rooms"
# How long a test waits for something that must happen (a job run, a LISTEN in place)
# before it fails; a liveness bound, not a measurement.
PATIENCE = 30.0


def pool_state(pgbouncer: PgBouncer) -> dict[str, Any]:
    """PgBouncer's SHOW POOLS row of the test database (its console speaks simple queries)."""
    with psycopg.connect(pgbouncer.admin_url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute("SHOW POOLS").fetchall()
    return next(r for r in rows if r["database"] == "focushub")


async def eventually(query: str, owner_conn: asyncpg.Connection, *args: Any) -> Any:
    """Poll ``query`` until it returns a true value; fail after :data:`PATIENCE`."""
    async def poll() -> Any:
        while not (value := await owner_conn.fetchval(query, *args)):
            await asyncio.sleep(0.05)
        return value
    return await asyncio.wait_for(poll(), PATIENCE)


async def test_requests_keep_each_callers_rows_on_shared_server_sessions(
        pooled_server: LiveServer, http: httpx.AsyncClient, pgbouncer: PgBouncer) -> None:
    alice, bob = await make_user(http), await make_user(http)
    login = await http.post("/api/v1/auth/login", json={"email": alice["user"]["email"],
                                                        "password": alice["password"]})
    assert login.status_code == 200, login.text
    alice["headers"] = {"Authorization": f"Bearer {login.json()['access_token']}"}
    public = await make_post(http, alice, title="Notes on pooling")
    draft = await make_post(http, alice, title="Not yet", is_published=False)

    # Many callers at once over PgBouncer's two server sessions: every transaction must run
    # with its own caller's role and claims, whatever ran on that session before.
    callers = {"alice": alice["headers"], "bob": bob["headers"], "anon": {}}
    plan = [(who, path) for _ in range(15) for who in callers
            for path in (f"/api/v1/posts/{draft['id']}", f"/api/v1/posts/{public['id']}",
                         "/api/v1/users/me")]
    responses = await asyncio.gather(*(http.get(path, headers=callers[who]) for who, path in plan))

    for (who, path), response in zip(plan, responses, strict=True):
        if path.endswith(draft["id"]):
            expected = 200 if who == "alice" else 404
            assert response.status_code == expected, (who, path, response.text)
        elif path.endswith(public["id"]):
            assert response.status_code == 200, (who, path, response.text)
            assert response.json()["title"] == "Notes on pooling"
        elif who == "anon":
            assert response.status_code == 401, response.text
        else:
            assert response.status_code == 200, response.text
            me = alice if who == "alice" else bob
            assert response.json()["id"] == me["user"]["id"]

    assert (await http.get("/readyz")).status_code == 200
    pool = pool_state(pgbouncer)
    # More of the app's connections than server sessions: they shared them.
    servers = sum(pool[k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
    assert servers <= POOL_SIZE
    assert pool["cl_active"] + pool["cl_waiting"] > POOL_SIZE


async def test_events_reach_sockets_over_the_direct_connection(
        pooled_server: LiveServer, http: httpx.AsyncClient) -> None:
    alice, bob = await make_user(http), await make_user(http)
    await follow(http, bob, alice)  # a member of her group, not invited to it
    room = await http.post(ROOMS, json={"type": "group", "name": "Pooled",
                                        "member_ids": [bob["user"]["id"]]},
                           headers=alice["headers"])
    assert room.status_code == 201, room.text
    ws = await ready_ws(pooled_server.ws_url, bob["access_token"])
    try:
        subscribed = await ws.subscribe(room.json()["id"])
        assert subscribed["type"] == "subscribed"
        sent = await http.post(f"{ROOMS}/{room.json()['id']}/messages",
                               json={"content": "through the pooler"}, headers=alice["headers"])
        assert sent.status_code == 201, sent.text
        frames = await ws.recv_until(lambda f: f["type"] == "message.created")
        assert frames[-1]["data"]["content"] == "through the pooler"
        assert frames[-1]["seq"] == subscribed["seq"] + 1

        # An event the database makes itself (a trigger's pg_notify), bridged to the socket.
        followed = await http.put(f"/api/v1/users/{bob['user']['id']}/follow",
                                  headers=alice["headers"])
        assert followed.status_code == 200, followed.text
        note = (await ws.recv_until(lambda f: f["type"] == "notification.created"))[-1]
        assert note["data"]["type"] == "follow"
    finally:
        await ws.close()


async def test_jobs_are_written_taken_and_run_through_pgbouncer(
        pooled_settings: Settings, http: httpx.AsyncClient,
        owner_conn: asyncpg.Connection) -> None:
    # Sign-up queues the verification mail in its transaction; a worker takes and runs it,
    # its queries through PgBouncer, each switching role for its own transaction only.
    user = await make_user(http)
    job_id = await owner_conn.fetchval(
        "SELECT id FROM procrastinate.procrastinate_jobs WHERE task_name = 'mail.send'"
        " AND args->>'outbox_id' = (SELECT id::text FROM focushub_auth.mail_outbox WHERE to_email = $1)",
        user["user"]["email"])
    assert job_id is not None
    rt = build_runtime(pooled_settings)
    try:
        await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False), PATIENCE)
    finally:
        await rt.stop()
    status = await owner_conn.fetchval(
        "SELECT status::text FROM procrastinate.procrastinate_jobs WHERE id = $1", job_id)
    assert status == "succeeded"


async def test_the_workers_listener_hears_jobs_written_through_pgbouncer(
        pooled_settings: Settings, pgbouncer: PgBouncer, owner_conn: asyncpg.Connection) -> None:
    rt = build_runtime(pooled_settings)
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def on_notification(*, channel: str, payload: str) -> None:
        heard.put_nowait((channel, payload))

    await rt.jobs.open()
    listener = asyncio.create_task(rt.jobs.connector.listen_notify(
        on_notification, [f"procrastinate_queue_v1#{QUEUE}"]))
    try:
        # The listener's session is in place once its LISTEN has finished.
        await eventually(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'focushub-jobs-listener'"
            " AND state = 'idle' AND query LIKE 'LISTEN%'", owner_conn)
        async with rt.transaction(SERVICE) as tx:
            tx.enqueue("jobs.prune_finished", timestamp=0)
        channel, payload = await asyncio.wait_for(heard.get(), PATIENCE)
        assert channel == f"procrastinate_queue_v1#{QUEUE}"
        assert '"job_inserted"' in payload.replace(" ", "")
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await rt.stop()
