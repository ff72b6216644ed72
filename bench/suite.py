"""``bench/run``: HTTP load against the API, beside pgbench (the SQL limit) and a bare
ASGI floor, on a seeded database; writes bench/results/run-*.json and regenerates
docs/performance.md and docs/img/*.png. See ``bench/run --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
import psutil
import uvloop

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable

import loadgen  # noqa: E402
import pgb  # noqa: E402
import realtime  # noqa: E402
import report  # noqa: E402
import workload  # noqa: E402

from focushub.core import bootstrap  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402
from focushub.migrations import runner  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path}")


class RssSampler:
    """Max RSS (MiB) of each child process of ``pid`` while running."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.max_mib: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for child in self.proc.children(recursive=True):
                    try:
                        rss = child.memory_info().rss / 2**20
                        if "python" in child.name() or "focushub" in " ".join(child.cmdline()[:3]):
                            self.max_mib[child.pid] = max(self.max_mib.get(child.pid, 0), rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self._stop.wait(0.5)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _server(cmd: list[str], env: dict[str, str], port: int, ready: str, log: Path) -> subprocess.Popen:
    out = open(log, "w")
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                            cwd=ROOT, start_new_session=True)
    try:
        _wait_http(port, ready)
    except Exception:
        proc.terminate()
        raise
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _load(spec: dict[str, Any]) -> dict[str, Any]:
    path = RESULTS / "loadgen-spec.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run([PY, str(BENCH / "loadgen.py"), str(path)], capture_output=True, text=True,
                         timeout=spec["duration"] + spec.get("warmup", 0) + 120)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout)


# The API and the floor measured in turn, A B B A, each window half the measured time: what
# the shared machine does over a cell (other work starting or stopping, autovacuum, a
# checkpoint) then weighs on both alike, where one window each put it all on one side.
IN_TURN = ("api", "floor", "floor", "api")


def _in_turn(sides: dict[str, dict[str, Any]], concurrency: int, duration: float,
             warmup: float, rounds: int = 1) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` times A B B A: each side's ``duration`` in ``2 * rounds`` windows, the
    i-th window of one side next to the i-th of the other (a pair, bench/report.py)."""
    order = IN_TURN * rounds
    windows: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for i, side in enumerate(order):
        windows[side].append(_load({
            "host": "127.0.0.1", "concurrency": concurrency, "seed": concurrency * 10 + i,
            "duration": duration / order.count(side), "warmup": warmup,
            "keep_latencies": True, **sides[side]}))
    return windows


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "asyncpg", "uvloop",
                "httptools", "orjson"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(), "python": platform.python_version(), "versions": versions,
    }


def _realtime_status() -> dict[str, Any]:
    try:
        from focushub.realtime.router import PATH
    except ImportError as exc:
        return {"available": False, "reason": f"focushub.realtime.router: {exc}"}
    return {"available": True, "routes": [PATH], "measured": False, "reason": "not requested"}


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=RESULTS / "pgdata",
                    help="embedded PostgreSQL data dir (seeded at --scale if it has no users)")
    ap.add_argument("--scale", type=float, default=1.0, help="seed scale when the database is empty")
    ap.add_argument("--fresh", action="store_true",
                    help="drop the database first (then migrate and seed at --scale)")
    ap.add_argument("--concurrency", default="1,8,32,64")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each HTTP run")
    ap.add_argument("--rounds", type=int, default=1,
                    help="API and floor in turn (A B B A) this many times per cell: 2 x rounds "
                         "pairs of windows, each duration / (2 x rounds) seconds")
    ap.add_argument("--workers", type=int, default=2, help="server processes (API and floor)")
    ap.add_argument("--endpoints", default=",".join(workload.ENDPOINTS))
    ap.add_argument("--variants", type=int, default=48, help="callers/targets per endpoint")
    ap.add_argument("--realtime", default="100,500,1000",
                    help="WebSocket client counts for the realtime scenario ('' to skip)")
    ap.add_argument("--realtime-duration", type=float, default=15.0)
    ap.add_argument("--large-data-dir", type=Path, default=None,
                    help="a second, larger seeded database (e.g. scale 10) for --large-endpoints")
    # Every endpoint, so that the report shows how each one grows with the data (the paginated
    # ones must not, see docs/performance.md, "Data at scale").
    ap.add_argument("--large-endpoints", default=",".join(workload.ENDPOINTS))
    ap.add_argument("--large-concurrency", default="1,8")
    ap.add_argument("--no-doc", action="store_true", help="write the JSON only")
    ap.add_argument("--note", default="", help="free text stored with the result (machine load...)")
    return ap.parse_args()


def run_database(args: argparse.Namespace, data_dir: Path, endpoints: list[str], levels: list[int],
                 realtime_levels: list[int], fresh: bool, n_variants: int) -> dict[str, Any]:
    """Every measurement on one database: HTTP (API, floor), pgbench, then realtime."""
    server = EmbeddedPostgres(data_dir.resolve())
    server.start()
    api = floor = None
    try:
        if fresh:
            asyncio.run(bootstrap.drop_database(server.url(), "focushub"))
        asyncio.run(bootstrap.ensure_database(server.url(), "focushub"))
        owner = server.url(database="focushub")
        runner.upgrade(owner)
        asyncio.run(bootstrap.ensure_login_role(owner))
        app_url = bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)

        async def db_facts() -> dict[str, Any]:
            conn = await asyncpg.connect(owner)
            try:
                facts = {"server_version": await conn.fetchval("SHOW server_version")}
                for t in ("users", "posts", "comments", "questions", "answers", "votes", "followers"):
                    facts[t] = await conn.fetchval(f"SELECT count(*) FROM {t}")
                facts["size"] = await conn.fetchval(
                    "SELECT pg_size_pretty(pg_database_size(current_database()))")
                return facts
            finally:
                await conn.close()

        facts = asyncio.run(db_facts())
        seed_report = None
        if not facts["users"]:
            from focushub.seed import seed_database

            print(f"seeding scale {args.scale} ...", flush=True)
            rep = asyncio.run(seed_database(owner, scale=args.scale))
            seed_report = {"scale": args.scale, "seconds": round(rep.total_seconds, 1),
                           "steps": {k: round(v, 1) for k, v in rep.seconds.items()},
                           "counters_equal_recounts": not any(rep.mismatches.values())}
            print(f"seeded in {rep.total_seconds:.1f}s", flush=True)
            facts = asyncio.run(db_facts())
        print(f"database: {facts}", flush=True)

        secret = secrets.token_urlsafe(48)
        variants = asyncio.run(workload.build_variants(owner, n_variants))
        variants = {k: v for k, v in variants.items() if k in endpoints}
        asyncio.run(workload.capture(app_url, secret, variants))
        captured = workload.to_json(variants)
        sql_path = RESULTS / "captured-sql.json"
        sql_path.write_text(json.dumps(captured, indent=1))

        # pgbench connection (unix socket, as the API's login role)
        q = parse_qs(urlparse(app_url).query)
        conninfo = {"host": q["host"][0], "port": q.get("port", ["5432"])[0],
                    "user": bootstrap.APP_LOGIN_ROLE, "dbname": "focushub"}
        scripts = {name: pgb.write_scripts(name, captured[name], RESULTS / "pgbench" / name)
                   for name in endpoints}

        api_port, floor_port = _free_port(), _free_port()
        # Write limits off: the load is a few accounts writing as fast as they can, which the
        # limits would (rightly) refuse; bench/school.py --limits measures what they cost.
        env = {"FOCUSHUB_DATABASE_URL": app_url, "FOCUSHUB_MIGRATION_DATABASE_URL": owner,
               "FOCUSHUB_JWT_SECRET": secret, "FOCUSHUB_LOG_LEVEL": "warning",
               "FOCUSHUB_WRITE_LIMITS_ENABLED": "false"}
        api = _server([str(ROOT / ".venv/bin/focushub"), "serve", "--workers", str(args.workers),
                       "--port", str(api_port)], env, api_port, "/readyz", RESULTS / "api.log")
        floor = _server([PY, "-m", "uvicorn", "floor_app:app", "--app-dir", str(BENCH), "--workers",
                         str(args.workers), "--port", str(floor_port), "--log-level", "warning",
                         "--no-access-log"],
                        {"BENCH_SQL": str(sql_path), "BENCH_DSN": app_url}, floor_port, "/nope",
                        RESULTS / "floor.log")

        # CPU time per request: the server's process tree and PostgreSQL's (the postmaster
        # and its backends) over each measured window.
        postmaster = int((server.pgdata / "postmaster.pid").read_text().split()[0])
        tokens: dict[str, str] = {}
        rows: list[dict[str, Any]] = []
        for name in endpoints:
            reqs_api = []
            reqs_floor = []
            for k, v in enumerate(captured[name]):
                key = v["user_id"]
                if key not in tokens:
                    tokens[key] = workload.token_for(secret, uuid.UUID(key), v["email"])
                reqs_api.append({"method": v["method"], "path": v["path"],
                                 "headers": {"Authorization": f"Bearer {tokens[key]}"},
                                 "body": json.dumps(v["body"]) if v["body"] is not None else None})
                # The floor gets the request the API gets (method, token, body) at its own
                # path: its HTTP parsing and reading of the body are the API's too.
                reqs_floor.append({**reqs_api[-1], "path": f"/floor/{name}/{k}"})
            files, defines = scripts[name]
            for c in levels:
                sides = {
                    "api": {"port": api_port, "requests": reqs_api, "balance_pid": api.pid,
                            "cpu_pids": {"server": api.pid, "postgres": postmaster}},
                    "floor": {"port": floor_port, "requests": reqs_floor, "balance_pid": floor.pid,
                              "cpu_pids": {"server": floor.pid, "postgres": postmaster}},
                }
                with RssSampler(api.pid) as rss:
                    windows = _in_turn(sides, c, args.duration, args.warmup, args.rounds)
                r_api, r_floor = loadgen.merge(windows["api"]), loadgen.merge(windows["floor"])
                r_api["server_rss_mib"] = round(max(rss.max_mib.values(), default=0.0), 1)
                pg0 = loadgen.tree_cpu(postmaster)
                r_pg = pgb.run(server.bin_dir, conninfo, files, defines, c, args.duration,
                               RESULTS / "pgbench-logs")
                time.sleep(0.5)  # pgbench's backends exit after it does: let them be reaped
                pg_cpu = loadgen.tree_cpu(postmaster) - pg0
                r_pg["cpu_s"] = {"postgres": round(pg_cpu, 3)}
                r_pg["cpu_ms_per_request"] = {
                    "postgres": round(1000.0 * pg_cpu / max(1, r_pg["count"]), 3)}
                row = {"endpoint": name, "concurrency": c, "api": r_api, "floor": r_floor,
                       "pgbench": r_pg, "load_average": round(os.getloadavg()[0], 2)}
                rows.append(row)
                cpu_a, cpu_f = r_api["cpu_ms_per_request"], r_floor["cpu_ms_per_request"]
                print(f"{name:15s} c={c:<3d} api {r_api['rps']:8.1f} rps p95 {r_api['p95']} ms "
                      f"err {r_api['errors']} | floor {r_floor['rps']:8.1f} "
                      f"({100 * r_api['rps'] / max(r_floor['rps'], 0.1):.0f} %) | pgbench "
                      f"{r_pg['rps']:8.1f} err {r_pg['errors']} | CPU ms/req api "
                      f"{cpu_a['server']:.3f}+pg {cpu_a['postgres']:.3f}, floor {cpu_f['server']:.3f}"
                      f"+pg {cpu_f['postgres']:.3f}, pgbench pg "
                      f"{r_pg['cpu_ms_per_request']['postgres']:.3f} | rss "
                      f"{r_api['server_rss_mib']} MiB | load {row['load_average']}", flush=True)

        rt_status = _realtime_status()
        rt_rows: list[dict[str, Any]] = []
        if rt_status["available"] and realtime_levels:
            _stop(floor)
            floor = None

            def mint(user_id: Any, email: str) -> str:
                return workload.token_for(secret, user_id, email)

            for n in realtime_levels:
                with RssSampler(api.pid) as rss:
                    try:
                        # The clients on uvloop, as bench/school.py's.
                        r = uvloop.run(realtime.run_one(api_port, owner, mint, n,
                                                         args.realtime_duration))
                    except Exception as exc:  # report what happened, keep the HTTP results
                        r = {"clients": n, "failed": f"{type(exc).__name__}: {exc}"[:500]}
                r["server_rss_mib"] = round(max(rss.max_mib.values(), default=0.0), 1)
                rt_rows.append(r)
                print(f"realtime {r}", flush=True)
            rt_status["measured"] = True
        rt_status["results"] = rt_rows
    finally:
        for proc in (api, floor):
            if proc is not None:
                _stop(proc)
        server.stop()
    return {
        "database": facts, "seed": seed_report, "results": rows, "realtime": rt_status,
        "statements": {name: len(captured[name][0]["statements"]) for name in endpoints},
    }


def main() -> None:
    args = _parse()
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load_before = os.getloadavg()
    main_run = run_database(
        args, args.data_dir, [e for e in args.endpoints.split(",") if e],
        [int(x) for x in args.concurrency.split(",")],
        [int(x) for x in args.realtime.split(",") if x], args.fresh, args.variants)
    large = None
    if args.large_data_dir is not None:
        large = run_database(
            args, args.large_data_dir, [e for e in args.large_endpoints.split(",") if e],
            [int(x) for x in args.large_concurrency.split(",")], [], False,
            min(args.variants, 24))
    result = {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "runtime_s": round(time.time() - started, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": args.note,
        "machine": _machine(),
        "settings": {"workers": args.workers, "duration_s": args.duration, "warmup_s": args.warmup,
                     "in_turn": True, "rounds": args.rounds,
                     "concurrency": [int(x) for x in args.concurrency.split(",")],
                     "variants": args.variants,
                     "api_pool": "engine 10 + 10 overflow, hot paths 10, per worker (defaults)", "floor_pool": "20 per worker"},
        **main_run,
        "large": large,
    }
    out = RESULTS / f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out} ({result['runtime_s']} s)")
    if not args.no_doc:
        report.regenerate(result, ROOT / "docs" / "performance.md", ROOT / "docs" / "img")
        print("regenerated docs/performance.md and docs/img/")


if __name__ == "__main__":
    main()
