"""A small closed-loop HTTP/1.1 load generator (asyncio + uvloop), run as its own process.

    python bench/loadgen.py SPEC.json  ->  prints one JSON object

SPEC: {"host", "port", "concurrency", "duration", "warmup", "seed",
       "requests": [{"method", "path", "headers": {...}, "body": str | null}, ...],
       "cpu_pids": {"server": PID, "postgres": PID}}   (optional)

``concurrency`` keep-alive connections each send a request, wait for the whole
response, and send the next one (a closed loop: concurrency = requests in
flight). Each request is one of ``requests`` drawn at random. Requests that
complete during ``warmup`` are not counted. Errors are non-2xx statuses and
broken connections (reconnected). Why not wrk: the variants need per-request
paths, bodies and tokens (wrk needs Lua for that) and no extra system package
is needed; the generator's own CPU use is reported so its cost is visible.

``keep_latencies`` (optional) returns every latency too, for :func:`merge`.

``cpu_pids`` names process trees (a server's master process, the postmaster) whose CPU
time over the measured window is reported as ``cpu_s`` and per request as
``cpu_ms_per_request`` (see :func:`tree_cpu`).

``balance_pid`` (optional) names a server's master process: its worker processes share one
listening socket, and which of them accepts a connection is up to the kernel, so 8
connections may all land on one worker in one run and split 4 + 4 in the next. A worker
serving every connection alone does less work per request (more events per wake-up, the
other core left to PostgreSQL), which moved a server's CPU per request by up to 35 % between
runs of the same code. With ``balance_pid`` the connections are opened before the warm-up
and spread evenly over the workers: each one's owner is read from the workers' sockets,
and a connection on a worker with more than its share is closed and opened again (see
:func:`_balanced_connections`). The connections per worker are reported as ``spread``.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from typing import Any


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and all its descendants,
    living or exited: the process's own time, the time of the children it has reaped (a
    postmaster reaps its backends, so a backend that ended between two samples still
    counts), and each living descendant's own time."""
    import psutil

    root = psutil.Process(pid)
    t = root.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in root.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.Error:
            continue
        total += c.user + c.system
    return total


def _cpu_sample(pids: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu(pid) for name, pid in pids.items()}


def _encode(req: dict[str, Any], host: str) -> bytes:
    body = (req.get("body") or "").encode()
    lines = [f"{req['method']} {req['path']} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    for k, v in (req.get("headers") or {}).items():
        lines.append(f"{k}: {v}")
    if body or req["method"] in ("POST", "PUT", "PATCH"):
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _sockets(master: int) -> list[tuple[int, Any]]:
    """(pid, TCP socket) of every process under ``master``."""
    import psutil

    found = []
    for proc in psutil.Process(master).children(recursive=True):
        try:
            found += [(proc.pid, c) for c in proc.net_connections(kind="tcp")]
        except psutil.Error:
            continue
    return found


def _owners(master: int, port: int) -> dict[int, int]:
    """Local port of each client connection to ``port`` -> the pid of the worker holding it."""
    import psutil

    return {c.raddr.port: pid for pid, c in _sockets(master)
            if c.laddr and c.raddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED}


def _workers(master: int) -> list[int]:
    """The master's processes that listen (uvicorn's workers share its socket)."""
    import psutil

    return sorted({pid for pid, c in _sockets(master) if c.status == psutil.CONN_LISTEN})


async def _balanced_connections(spec: dict[str, Any]) -> tuple[list[tuple[Any, Any]], dict[str, int]]:
    """``concurrency`` connections spread evenly over the server's workers (at most one more
    on some when they do not divide): connections accepted by a worker over its share are
    closed and opened again until the spread is even or 400 attempts were made."""
    host, port, n = spec["host"], spec["port"], spec["concurrency"]
    master = spec["balance_pid"]
    workers = _workers(master)
    share = -(-n // max(1, len(workers)))  # ceil
    conns: list[tuple[Any, Any, int]] = []  # reader, writer, the worker holding it (0: unknown)

    async def open_one() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        local = writer.get_extra_info("sockname")[1]
        owner = 0
        for _ in range(200):  # accepted within 1 s
            owner = _owners(master, port).get(local, 0)
            if owner:
                break
            await asyncio.sleep(0.005)
        conns.append((reader, writer, owner))

    for _ in range(n):
        await open_one()
    for _ in range(400):
        counts: dict[int, int] = {}
        for *_, owner in conns:
            counts[owner] = counts.get(owner, 0) + 1
        over = {pid for pid, k in counts.items() if k > share or pid == 0}
        if not over:
            break
        victim = next(c for c in conns if c[2] in over)
        conns.remove(victim)
        victim[1].close()
        await open_one()
    spread: dict[str, int] = {str(pid): 0 for pid in workers}
    for *_, owner in conns:
        spread[str(owner)] = spread.get(str(owner), 0) + 1
    return [(r, w) for r, w, _ in conns], spread


async def _worker(spec: dict[str, Any], payloads: list[bytes], rng: random.Random, t_start: float,
                  t_end: float, lat: list[float], errors: dict[str, int],
                  conn: tuple[Any, Any] | None = None) -> None:
    host, port = spec["host"], spec["port"]
    reader, writer = conn if conn is not None else (None, None)
    while True:
        now = time.perf_counter()
        if now >= t_end:
            break
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            payload = payloads[rng.randrange(len(payloads))]
            t0 = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 >= t_start:
                if 200 <= status < 300:
                    lat.append((t1 - t0) * 1000.0)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if time.perf_counter() >= t_start:
                key = type(exc).__name__
                errors[key] = errors.get(key, 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    payloads = [_encode(r, f"{spec['host']}:{spec['port']}") for r in spec["requests"]]
    lat: list[float] = []
    errors: dict[str, int] = {}
    conns: list[Any] = [None] * spec["concurrency"]
    spread = None
    if spec.get("balance_pid"):
        conns, spread = await _balanced_connections(spec)
    base = time.perf_counter()
    t_start = base + spec.get("warmup", 0)
    t_end = t_start + spec["duration"]
    pids: dict[str, int] = spec.get("cpu_pids") or {}
    at_start: dict[str, float] = {}

    async def sample_at_start() -> None:
        await asyncio.sleep(max(0.0, t_start - time.perf_counter()))
        at_start.update(_cpu_sample(pids))

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(sample_at_start(), *(
        _worker(spec, payloads, random.Random(spec.get("seed", 1) * 1000 + i), t_start, t_end, lat, errors,
                conns[i])
        for i in range(spec["concurrency"])
    ))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    at_end = _cpu_sample(pids)
    elapsed = time.perf_counter() - t_start
    result = _summary(lat, errors, elapsed, {k: at_end[k] - at_start[k] for k in pids},
                      (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime))
    result["spread"] = sorted(spread.values(), reverse=True) if spread is not None else None
    if spec.get("keep_latencies"):
        result["latencies"] = lat
    return result


def _summary(lat: list[float], errors: dict[str, int], elapsed: float, cpu: dict[str, float],
             client_cpu: float) -> dict[str, Any]:
    lat.sort()

    def at(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else None

    ended = len(lat) + sum(errors.values())
    return {
        "rps": round(len(lat) / elapsed, 1),
        "count": len(lat),
        "elapsed": round(elapsed, 3),
        "errors": sum(errors.values()),
        "error_detail": errors,
        "p50": at(0.50), "p95": at(0.95), "p99": at(0.99),
        "client_cpu_s": round(client_cpu, 2),
        # Requests that ended in the window, answered or not: each one cost the server CPU.
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_ms_per_request": {k: round(1000.0 * v / max(1, ended), 3) for k, v in cpu.items()},
    }


def merge(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several measured windows of the same load (run with
    ``keep_latencies``): requests and CPU summed, rates over the windows' total time,
    percentiles over all their latencies. ``spread`` is the least even window's."""
    lat = [x for w in windows for x in w["latencies"]]
    errors: dict[str, int] = {}
    cpu: dict[str, float] = {}
    for w in windows:
        for k, n in w["error_detail"].items():
            errors[k] = errors.get(k, 0) + n
        for k, v in w["cpu_s"].items():
            cpu[k] = cpu.get(k, 0.0) + v
    result = _summary(lat, errors, sum(w["elapsed"] for w in windows), cpu,
                      sum(w["client_cpu_s"] for w in windows))
    spreads = [w["spread"] for w in windows if w.get("spread")]
    result["spread"] = max(spreads, key=lambda s: max(s) - min(s)) if spreads else None
    result["windows"] = [w["rps"] for w in windows]
    return result


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
