"""The web pages against the JSON API for the same content, and what a first visit downloads.

How it measures:

* **Database**: an embedded PostgreSQL in ``--data-dir`` (default ``bench/results/pages-pgdata``),
  migrated and seeded with ``focushub seed``'s generator at ``--scale`` when it has no users.
* **Server**: ``focushub serve --workers 1`` as its own process on loopback, with the job worker
  off (``FOCUSHUB_WORKER_IN_PROCESS=false``) so no background job competes with the requests.
* **Page vs API**: one seeded user signs in twice, through the login form (session cookies,
  as a browser) and through ``POST /api/v1/auth/login`` (a bearer token). Then, for each pair —
  the feed ``GET /`` against ``GET /api/v1/feed``, and ``GET /questions/{id}`` against
  ``GET /api/v1/questions/{id}`` for the most-answered question (both show its first 50
  answers) and for a typical one (the median answer count) — one HTTP/1.1 keep-alive
  client sends ``--requests`` sequential requests per side, page and API alternating so both see
  the same machine noise, after ``--warmup`` unmeasured ones; this is repeated ``--rounds``
  times. The time is the client's, from sending the request to the last byte of the body, on
  loopback: the server's time plus well under a millisecond of client and socket. Reported: the
  median and 95th percentile over all rounds, and the median of each round (their spread says how
  noisy the machine was). The question page and API both count a view, once per viewer a day,
  so after the first request both read the same rows.
* **Two versions** (``--baseline DIR``: another checkout of the project with its own ``.venv``
  and the same migrations): its server runs beside this one on the same database, and the
  rounds alternate between them (this, baseline, then baseline, this, ...), so both versions
  see the same machine over the same minutes; the rows say which version (``this`` or
  ``baseline``) they are for. Use an even ``--rounds``.
* **First visit**: for each main page, a fresh Chromium context (empty cache, no cookies: a
  first-time visitor) loads the page and waits for the network to go idle. Every response is
  taken from Playwright's network events with Chromium's own byte counts
  (``request.sizes()``: response headers and the body as transferred, i.e. compressed when the
  server compressed it). The script also gzips each body itself (level 6) to show what
  ``Content-Encoding: gzip`` would save; that column is computed, not served. Then the same
  page is opened again in the same context: what a returning visitor downloads.

What it could not keep: the server and the client share the machine's cores, so the times
include the client's share of the CPU; the figures are for one client at a time (the load
under concurrency is ``bench/run``'s job); Chromium is Debian's ``/usr/bin/chromium``, driven
by Playwright for Python.

    .venv/bin/python bench/pages.py [--scale 1] [--requests 200] [--rounds 3] [--json OUT]
                                    [--baseline ../old-checkout] [--no-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from focushub.core import bootstrap
from focushub.devdb.supervisor import EmbeddedPostgres
from focushub.migrations import runner
from focushub.seed import SEED_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _prepare(owner: str, scale: float) -> dict[str, Any]:
    """Seed when empty; return the facts of the database and the ids the pages need."""
    conn = await asyncpg.connect(owner)
    try:
        if not await conn.fetchval("SELECT count(*) FROM users"):
            from focushub.seed import seed_database

            await conn.close()
            print(f"seeding scale {scale} ...", flush=True)
            report = await seed_database(owner, scale=scale)
            print(f"seeded in {report.total_seconds:.1f}s", flush=True)
            conn = await asyncpg.connect(owner)
        facts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}")
                 for t in ("users", "posts", "questions", "answers", "comments")}
        # The reader: the active user who follows the most accounts (the fullest "following").
        facts["user_email"] = await conn.fetchval(
            "SELECT u.email FROM users u JOIN followers f ON f.follower_id = u.id"
            " WHERE u.is_active GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1")
        row = await conn.fetchrow(
            "SELECT id::text, answers_count FROM questions ORDER BY answers_count DESC, id LIMIT 1")
        facts["question_id"], facts["question_answers"] = row["id"], row["answers_count"]
        # And a typical one: the median answers count among answered questions.
        row = await conn.fetchrow(
            "WITH a AS (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY answers_count) AS n"
            " FROM questions WHERE answers_count > 0)"
            " SELECT q.id::text, q.answers_count FROM questions q, a"
            " WHERE q.answers_count = a.n ORDER BY q.id LIMIT 1")
        facts["typical_question_id"], facts["typical_question_answers"] = (
            row["id"], row["answers_count"])
        facts["post_id"] = await conn.fetchval(
            "SELECT id::text FROM posts WHERE is_published ORDER BY comments_count DESC, id LIMIT 1")
        facts["username"] = await conn.fetchval(
            "SELECT u.username FROM users u JOIN followers f ON f.following_id = u.id"
            " GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1")
        return facts
    finally:
        await conn.close()


def _start_server(app_url: str, owner: str, port: int, data_dir: Path,
                  root: Path = ROOT) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FOCUSHUB_DATABASE_URL": app_url,
           "FOCUSHUB_MIGRATION_DATABASE_URL": owner, "FOCUSHUB_WORKER_IN_PROCESS": "false",
           "FOCUSHUB_JWT_SECRET": secrets.token_urlsafe(48), "FOCUSHUB_DATA_DIR": str(data_dir),
           "FOCUSHUB_LOG_LEVEL": "WARNING",
           # Each run signs the reader in twice per server: reruns would meet the login limits.
           "FOCUSHUB_RATE_LOGIN_ACCOUNT": "1000/900", "FOCUSHUB_RATE_LOGIN_ADDRESS": "1000/300"}
    proc = subprocess.Popen([str(root / ".venv" / "bin" / "focushub"), "serve", "--port",
                             str(port), "--workers", "1"], env=env, cwd=data_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the server stopped: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the server did not become ready within 60 s")


def _sign_in(base: str, email: str) -> tuple[httpx.Client, httpx.Client]:
    """A client with the web session's cookies and one with the API's bearer token."""
    web = httpx.Client(base_url=base, timeout=30)
    login = web.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', login.text).group(1)
    r = web.post("/login", data={"csrf_token": token, "email": email, "password": SEED_PASSWORD})
    if r.status_code != 303:
        raise RuntimeError(f"web login: {r.status_code}")
    api = httpx.Client(base_url=base, timeout=30)
    r = api.post("/api/v1/auth/login", json={"email": email, "password": SEED_PASSWORD})
    r.raise_for_status()
    api.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return web, api


def _time_pair(servers: dict[str, tuple[httpx.Client, httpx.Client]], page: str, endpoint: str,
               requests: int, warmup: int, rounds: int) -> list[dict[str, Any]]:
    """One row per server (version): ``servers`` maps its name to its (web, api) clients.

    Each round measures one server after the other, in turns (A B, then B A, ...): requests to
    two servers interleaved one by one made each evict the other's code and data from the CPU
    caches, which cost the page (more code) more than the API and raised every ratio."""
    outs = {name: {"version": name, "page": page, "api": endpoint} for name in servers}
    samples: dict[tuple[str, str], list[list[float]]] = {
        (name, side): [] for name in servers for side in ("page", "api")}
    for n in range(rounds):
        order = list(servers.items()) if n % 2 == 0 else list(reversed(servers.items()))
        for name, (web, api) in order:
            for _ in range(warmup):
                web.get(page).raise_for_status()
                api.get(endpoint).raise_for_status()
            times: dict[str, list[float]] = {"page": [], "api": []}
            for _ in range(requests):
                for side, client, path in (("page", web, page), ("api", api, endpoint)):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    elapsed = time.perf_counter() - t0
                    if r.status_code != 200:
                        raise RuntimeError(f"{name} {path}: {r.status_code}")
                    times[side].append(elapsed * 1000)
                    outs[name][f"{side}_bytes"] = len(r.content)
            for side in times:
                samples[(name, side)].append(times[side])
    for (name, side), per_round in samples.items():
        out = outs[name]
        pooled = sorted(t for r in per_round for t in r)
        out[f"{side}_median_ms"] = round(statistics.median(pooled), 2)
        out[f"{side}_p95_ms"] = round(pooled[int(len(pooled) * 0.95) - 1], 2)
        out[f"{side}_round_medians_ms"] = [round(statistics.median(r), 2) for r in per_round]
    for out in outs.values():
        out["page_over_api"] = round(out["page_median_ms"] / out["api_median_ms"], 2)
        out["round_ratios"] = [round(p / a, 2) for p, a in zip(
            out["page_round_medians_ms"], out["api_round_medians_ms"], strict=True)]
    return list(outs.values())


async def _first_visits(base: str, paths: list[str]) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    results = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-gpu"])
        try:
            for path in paths:
                context = await browser.new_context()
                page = await context.new_page()
                visits: list[list[Any]] = [[]]
                page.on("requestfinished", lambda request, v=visits: v[-1].append(request))
                await page.goto(f"{base}{path}", wait_until="networkidle")
                rows = []
                for request in visits[0]:  # (bodies are readable until the page navigates)
                    response = await request.response()
                    sizes = await request.sizes()
                    body = await response.body() if response is not None else b""
                    rows.append({
                        "url": request.url.removeprefix(base), "type": request.resource_type,
                        "status": response.status if response is not None else None,
                        "encoding": (await response.header_value("content-encoding") or "")
                        if response is not None else "",
                        "headers": sizes["responseHeadersSize"],
                        "body": sizes["responseBodySize"],
                        "decoded": len(body),
                        "gzip_body": len(gzip.compress(body, compresslevel=6)),
                    })
                # The second visit, in the same context: what the browser's cache saves.
                visits.append([])
                await page.goto(f"{base}{path}", wait_until="networkidle")
                again = visits[1]
                repeat = []
                for request in again:
                    sizes = await request.sizes()
                    response = await request.response()
                    repeat.append({"url": request.url.removeprefix(base),
                                   "status": response.status if response is not None else None,
                                   "bytes": sizes["responseHeadersSize"] + sizes["responseBodySize"]})
                await context.close()
                results.append({
                    "path": path, "requests": len(rows),
                    "repeat_requests": len(repeat), "repeat_transferred": sum(r["bytes"] for r in repeat),
                    "repeat": repeat,
                    "transferred": sum(r["headers"] + r["body"] for r in rows),
                    "decoded": sum(r["decoded"] for r in rows),
                    "with_gzip": sum(r["headers"] + r["gzip_body"] for r in rows),
                    "by_type": {t: sum(r["headers"] + r["body"] for r in rows if r["type"] == t)
                                for t in sorted({r["type"] for r in rows})},
                    "responses": rows,
                })
        finally:
            await browser.close()
    return results


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0.0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    chromium = (subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
                if Path(CHROMIUM).exists() else "")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "os": platform.platform(), "python": platform.python_version(), "chromium": chromium}


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench/pages.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=RESULTS / "pages-pgdata")
    ap.add_argument("--scale", type=float, default=1.0, help="seed scale when the database is empty")
    ap.add_argument("--requests", type=int, default=200, help="measured requests per side and round")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="write the full result here")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout (with its .venv) to measure in turn with this one")
    ap.add_argument("--no-browser", action="store_true", help="skip the first-visit part")
    args = ap.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(args.data_dir.resolve())
    pg.start()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(bootstrap.ensure_database(pg.url(), "focushub"))
        owner = pg.url(database="focushub")
        runner.upgrade(owner)
        asyncio.run(bootstrap.ensure_login_role(owner))
        app_url = bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)
        facts = asyncio.run(_prepare(owner, args.scale))
        print(f"database: {facts}", flush=True)
        roots = {"this": ROOT}
        if args.baseline:
            roots["baseline"] = args.baseline.resolve()
        with tempfile.TemporaryDirectory() as tmp:
            clients, bases = {}, {}
            for name, root in roots.items():
                port = _free_port()
                (Path(tmp) / name).mkdir()
                servers.append(_start_server(app_url, owner, port, Path(tmp) / name, root))
                bases[name] = f"http://127.0.0.1:{port}"
                clients[name] = _sign_in(bases[name], facts["user_email"])
            base = bases["this"]
            qid, tid = facts["question_id"], facts["typical_question_id"]
            pairs = [row for page, endpoint in (
                ("/", "/api/v1/feed"),
                (f"/questions/{qid}", f"/api/v1/questions/{qid}"),
                (f"/questions/{tid}", f"/api/v1/questions/{tid}"),
            ) for row in _time_pair(clients, page, endpoint, args.requests, args.warmup,
                                    args.rounds)]
            for web, api in clients.values():
                web.close()
                api.close()
            for pair in pairs:
                print(json.dumps(pair), flush=True)
            paths = ["/", "/questions", f"/questions/{qid}", f"/posts/{facts['post_id']}",
                     "/search?q=energy", f"/u/{facts['username']}", "/resources", "/login"]
            visits = [] if args.no_browser else asyncio.run(_first_visits(base, paths))
            for v in visits:
                print(json.dumps({k: v[k] for k in ("path", "requests", "transferred", "decoded",
                                                     "with_gzip", "by_type", "repeat_requests",
                                                     "repeat_transferred")}), flush=True)
            result = {"machine": _machine(), "database": facts, "scale": args.scale,
                      "requests": args.requests, "rounds": args.rounds, "pairs": pairs,
                      "baseline": str(roots.get("baseline", "")), "first_visits": visits}
            if args.json:
                args.json.write_text(json.dumps(result, indent=1))
            print(json.dumps(result["machine"]), flush=True)
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
