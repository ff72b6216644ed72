"""What an operator sees: request ids, structured logs, and Prometheus metrics.

* Every HTTP request gets an id: the client's ``X-Request-ID`` when it is a plain
  token of 8–64 characters, a new one otherwise. It is returned in the
  ``X-Request-ID`` header and in error bodies, and every log line written while the
  request runs carries it (and the caller's user id once known).
* ``FOCUSHUB_LOG_FORMAT=json`` writes JSON lines (python-json-logger); one line per
  request says method, route (the template, never the raw path with its ids),
  status and duration. Tokens, passwords and message contents are never logged.
* ``/metrics`` (prometheus-client): requests and their latency by route and status,
  the database pool, WebSocket connections, realtime events sent, the job queue,
  AI answers by outcome. With ``PROMETHEUS_MULTIPROC_DIR`` set (``focushub serve
  --workers N`` sets it to a new directory), every process writes its values there and a
  scrape of any process reads all of them: counts summed, the open WebSockets and
  connections in use summed over the live processes, the job queue as last read. A
  process that ended without saying so (killed, crashed, restarted by the supervisor)
  leaves those live sums at the next scrape; its counts stay.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_id", default=None)
# The HTTP path being served ("" outside a request): pagination binds cursors to it.
request_path: contextvars.ContextVar[str] = contextvars.ContextVar("request_path", default="")

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("focushub.access")

REQUESTS = Counter("focushub_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("focushub_http_request_duration_seconds", "HTTP request duration",
                    ["method", "route"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
# Read when prometheus-client is imported, as prometheus-client itself does to choose
# where values live: in the process, or in files of this directory shared by the processes.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

WEBSOCKETS = Gauge("focushub_websocket_connections", "Open realtime WebSocket connections",
                   multiprocess_mode="livesum")
EVENTS_SENT = Counter("focushub_realtime_events_total", "Events published on the bus", ["path"])
GROUP_COMMIT_ITEMS = Histogram(
    "focushub_group_commit_items", "Items written per group-commit transaction", ["name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128))
AI_ANSWERS = Counter("focushub_ai_answers_total", "AI answers finished", ["status", "model"])
DB_POOL_IN_USE = Gauge("focushub_db_pool_checked_out", "Database connections in use",
                       multiprocess_mode="livesum")
JOBS = Gauge("focushub_jobs", "Jobs in the queue by status", ["status"],
             multiprocess_mode="mostrecent")


def exposition() -> bytes:
    """The metrics in Prometheus's text format: this process's, or with
    :data:`MULTIPROCESS_DIR` those of every process writing there."""
    if MULTIPROCESS_DIR is None:
        return generate_latest()
    forget_gone_processes(MULTIPROCESS_DIR)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    return generate_latest(registry)


# prometheus-client's file of a process's live gauges: gauge_livesum_<pid>.db and the like.
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def forget_gone_processes(path: str) -> None:
    """Take the live gauges of processes that no longer exist out of the sums in ``path``
    (a worker killed or crashed never ran :func:`process_exiting`, and its open WebSockets
    and connections in use would otherwise be counted for ever)."""
    pids = {int(m.group(1)) for name in os.listdir(path) if (m := _LIVE_GAUGE_FILE.match(name))}
    for pid in pids:
        if not _process_exists(pid):
            multiprocess.mark_process_dead(pid, path=path)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as someone else's process
        pass
    return True


def process_exiting() -> None:
    """This process stops serving: its live gauges (WebSockets, connections in use) leave
    the sums; its counts stay in them."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid(), path=MULTIPROCESS_DIR)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``user_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.user_id = user_id.get()
        return True


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Registering tasks at start-up is not news.
    for name in ("procrastinate.blueprints", "procrastinate.periodic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


# A new request id: this process's random prefix and a counter. Unique across processes and
# restarts (the prefix is drawn at start), and cheaper than a random id per request.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)
# The request metrics' series, by (method, route, status): prometheus-client's ``labels()``
# looks a series up (and checks its labels) under a lock on every call.
_SERIES: dict[tuple[str, str, str], tuple[Any, Any]] = {}


# Methods a client may name freely; any other is counted as OTHER, so that made-up methods
# cannot add series without end.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _series(method: str, route: str, status: str) -> tuple[Any, Any]:
    if method not in _METHODS:
        method = "OTHER"
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = (REQUESTS.labels(method, route, status),
                                 LATENCY.labels(method, route))
    return series


REQUEST_ID_SCOPE_KEY = "focushub.request_id"


class RequestContextMiddleware:
    """Request id, access log line and request metrics for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if _VALID_ID.match(incoming) else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
        rid_token = request_id.set(rid)
        # Also in the scope, for the handler of an unexpected error: it runs outside this
        # middleware, once the context variable is reset.
        scope[REQUEST_ID_SCOPE_KEY] = rid
        user_token = user_id.set(None)
        path_token = request_path.set(scope.get("path", ""))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            method = scope["method"]
            requests, latency = _series(method, route, str(status))
            requests.inc()
            latency.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s %.1f ms", method, route, status, elapsed * 1000,
                                extra={"method": method, "route": route, "status": status,
                                       "duration_ms": round(elapsed * 1000, 1)})
            request_id.reset(rid_token)
            user_id.reset(user_token)
            request_path.reset(path_token)
