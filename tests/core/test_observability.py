"""Request ids, JSON logs, metrics, and 503 while the database is away."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid

import httpx

from focushub.app import create_app
from focushub.core import observability
from focushub.core.settings import Settings

SECRET = "x" * 40


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_every_response_names_its_request_and_errors_repeat_it(test_db):
    app = create_app(Settings(env="test", database_url=test_db.app_url, jwt_secret=SECRET))
    async with client_for(app) as c:
        r = await c.get(f"/api/v1/posts/{uuid.uuid4()}")
        assert r.status_code == 404
        assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
        r = await c.get("/healthz", headers={"X-Request-ID": "trace-abc-123"})
        assert r.headers["x-request-id"] == "trace-abc-123"
        r = await c.get("/healthz", headers={"X-Request-ID": "bad id\r\nx"})
        assert r.headers["x-request-id"] != "bad id\r\nx"
        assert len(r.headers["x-request-id"]) == 32
        ids = {(await c.get("/healthz")).headers["x-request-id"] for _ in range(20)}
        assert len(ids) == 20  # a new id for every request
    await app.state.runtime.stop()


async def test_metrics_count_requests_by_route_template_and_can_need_a_token(test_db):
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=SECRET)
    app = create_app(settings)
    post = uuid.uuid4()
    async with client_for(app) as c:
        await c.get(f"/api/v1/posts/{post}")
        for made_up in ("BREW", "PROPFIND", "X-ANYTHING"):
            await c.request(made_up, "/healthz")
        body = (await c.get("/metrics")).text
    assert 'focushub_http_requests_total{method="GET",route="/api/v1/posts/{post_id}",status="404"}' in body
    # Methods a client makes up are counted together, never as series of their own.
    assert 'focushub_http_requests_total{method="OTHER",route="/healthz",status="405"} 3.0' in body
    assert "BREW" not in body and "PROPFIND" not in body
    assert str(post) not in body
    assert "focushub_jobs{status=" in body
    await app.state.runtime.stop()
    guarded = create_app(Settings(env="test", database_url=test_db.app_url, jwt_secret=SECRET,
                                  metrics_token="s3cret-metrics-token"))
    async with client_for(guarded) as c:
        assert (await c.get("/metrics")).status_code == 401
        ok = await c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
        assert ok.status_code == 200
    await guarded.state.runtime.stop()


def test_json_log_lines_carry_the_request_id(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        observability.configure_logging("INFO", "json")
        token = observability.request_id.set("req-12345678")
        logging.getLogger("focushub.test").info("hello %s", "world")
        observability.request_id.reset(token)
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["message"] == "hello world"
        assert record["request_id"] == "req-12345678" and record["level"] == "INFO"
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


async def test_requests_get_503_with_retry_after_while_the_database_is_away():
    # Nothing listens on port 1: every connection is refused, as while PostgreSQL restarts.
    app = create_app(Settings(env="test", database_url="postgresql://u@127.0.0.1:1/x",
                              jwt_secret=SECRET))
    async with client_for(app) as c:
        r = await c.get("/api/v1/posts")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.json()["error"]["code"] == "database_unavailable"
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 503
    await app.state.runtime.stop()


async def test_a_missing_database_socket_is_503_too(tmp_path):
    # While the embedded PostgreSQL restarts, its unix socket is briefly absent: connecting
    # raises FileNotFoundError, which is the database away, not a server error.
    app = create_app(Settings(env="test", jwt_secret=SECRET,
                              database_url=f"postgresql://u@/x?host={tmp_path / 'gone'}"))
    async with client_for(app) as c:
        r = await c.get("/api/v1/posts")
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
        assert r.headers["retry-after"] == "5"
    await app.state.runtime.stop()


def _metrics_process(directory, code: str) -> subprocess.CompletedProcess:
    """Python ``code`` run in a process writing its metrics to ``directory``, as each worker
    of ``focushub serve --workers N`` does."""
    return subprocess.run(
        [sys.executable, "-c", "from focushub.core import observability as o\n" + code],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        capture_output=True, text=True, timeout=120)


def test_a_crashed_worker_leaves_the_live_sums_and_its_counts_stay(tmp_path):
    crashed = _metrics_process(tmp_path, (
        "o.WEBSOCKETS.inc(3)\no.DB_POOL_IN_USE.inc(2)\no.EVENTS_SENT.labels('notify').inc(5)\n"
        "import os\nprint(os.getpid(), flush=True)\n"
        "os._exit(9)"))  # no process_exiting(), as when a worker is killed
    assert crashed.returncode == 9, crashed.stderr
    crashed_pid = int(crashed.stdout)
    assert f"gauge_livesum_{crashed_pid}.db" in os.listdir(tmp_path)
    scrape = _metrics_process(tmp_path, (
        "o.WEBSOCKETS.inc(1)\nimport sys\nsys.stdout.write(o.exposition().decode())"))
    assert scrape.returncode == 0, scrape.stderr
    lines = scrape.stdout.splitlines()
    assert "focushub_websocket_connections 1.0" in lines  # 4.0 while the crashed one counted
    assert "focushub_db_pool_checked_out 0.0" in lines
    assert 'focushub_realtime_events_total{path="notify"} 5.0' in lines
    assert f"gauge_livesum_{crashed_pid}.db" not in os.listdir(tmp_path)
