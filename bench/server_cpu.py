"""Server CPU time per request of benchmarked endpoints, without HTTP or load generator.

    .venv/bin/python bench/server_cpu.py [--endpoints question,feed_trending] [-n 1000]
        [--data-dir bench/results/pgdata] [--profile tottime] [--floor | --floor-only]

Calls the ASGI app in process, one request after another, with the variants of the last
``bench/run`` (``bench/results/captured-sql.json``: paths, bodies and callers) on its
database, and reports the process CPU time per request (best of 3 rounds of ``-n``): what
the application costs per request, without uvicorn's HTTP parsing, the load generator or
the noise of concurrency, so two versions compare closely on a shared machine. The
database runs on the same machine, and the kernel's share of each round trip (a unix
socket's send wakes PostgreSQL) is part of the figure. ``--profile`` prints cProfile's
listing (sorted by ``tottime`` or ``cumulative``) of one more round; the app's lifespan is
not run (no event bus, no in-process worker). ``--floor`` measures the framework floor
(``bench/floor_app.py``: the same statements through an asyncpg pool, Starlette, orjson) the
same way, after the API, so the two compare in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import workload  # noqa: E402

from focushub.app import create_app  # noqa: E402
from focushub.core import bootstrap  # noqa: E402
from focushub.core.settings import Settings  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402


def _scope(v: dict[str, Any], token: str) -> tuple[dict[str, Any], bytes]:
    path, _, query = v["path"].partition("?")
    body = json.dumps(v["body"]).encode() if v["body"] is not None else b""
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
    return ({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": v["method"], "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("bench", 80)}, body)


async def _run(args: argparse.Namespace, owner: str, app_url: str) -> None:
    captured = json.loads((BENCH / "results" / "captured-sql.json").read_text())
    names = [n for n in args.endpoints.split(",") if n]
    missing = [n for n in names if n not in captured]
    if missing:
        raise SystemExit(f"not in the last bench/run's capture: {missing}")
    secret = "b" * 48
    conn = await asyncpg.connect(owner)
    try:
        await workload.open_sessions(conn, [uuid.UUID(v["user_id"]) for n in names
                                            for v in captured[n]])
    finally:
        await conn.close()
    app = create_app(Settings(env="development", database_url=app_url, jwt_secret=secret,
                              log_level="WARNING", write_limits_enabled=False))
    statuses: list[int] = []

    async def one(scope: dict[str, Any], body: bytes) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(dict(scope), receive, send)

    async def measure(label: str, requests: list[tuple[dict[str, Any], bytes]]) -> None:
        statuses.clear()
        for i in range(100):  # warm-up: caches, prepared statements, pool
            await one(*requests[i % len(requests)])
        if any(s >= 300 for s in statuses):
            raise SystemExit(f"{label}: statuses {sorted(set(statuses))}")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for i in range(args.n):
                await one(*requests[i % len(requests)])
            profile.disable()
            pstats.Stats(profile).sort_stats(args.profile).print_stats(40)
        best = float("inf")
        for _ in range(3):
            c0 = time.process_time()
            for i in range(args.n):
                await one(*requests[i % len(requests)])
            best = min(best, (time.process_time() - c0) / args.n)
        print(f"{label}: {1000 * best:.3f} ms CPU per request (best of 3 rounds of {args.n})",
              flush=True)

    try:
        for name in [] if args.floor_only else names:
            await measure(name, [
                _scope(v, workload.token_for(secret, uuid.UUID(v["user_id"]), v["email"]))
                for v in captured[name]])
    finally:
        await app.state.runtime.engine.dispose()
    if not (args.floor or args.floor_only):
        return
    os.environ.update({"BENCH_SQL": str(BENCH / "results" / "captured-sql.json"),
                       "BENCH_DSN": app_url.replace("postgresql+asyncpg://", "postgresql://")})
    import floor_app

    app = floor_app.app
    async with floor_app.lifespan(app):
        for name in names:
            await measure(f"{name} (floor)", [  # the API's request at the floor's path
                _scope({**v, "path": f"/floor/{name}/{k}"},
                       workload.token_for(secret, uuid.UUID(v["user_id"]), v["email"]))
                for k, v in enumerate(captured[name])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", default="question")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--data-dir", type=Path, default=BENCH / "results" / "pgdata")
    ap.add_argument("--profile", choices=("tottime", "cumulative"), default=None)
    ap.add_argument("--floor", action="store_true", help="measure the framework floor as well")
    ap.add_argument("--floor-only", action="store_true",
                    help="measure the framework floor alone (instruction counts of each under callgrind)")
    args = ap.parse_args()
    server = EmbeddedPostgres(args.data_dir.resolve())
    server.start()
    try:
        owner = server.url(database="focushub")
        asyncio.run(_run(args, owner, bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
