"""The framework floor: a bare Starlette app doing the same asyncpg calls as the API.

``GET|POST|PUT /floor/{endpoint}/{k}`` runs variant ``k`` of ``endpoint`` from the
captured SQL (``BENCH_SQL``, written by bench/run), sent with the method, headers and
body the API gets for that variant (the floor reads the body; the token and the body's
values are not looked at, they are in the captured statements): in one transaction, the
same statements with the same parameters, through an asyncpg pool (the API's
SQLAlchemy engine wraps the same driver), and answers the rows of the last
statement as JSON (orjson). No validation, no dependency injection, no
Pydantic, no SQLAlchemy: what is left is uvicorn + Starlette + asyncpg, the
least any Python ASGI server doing this work costs.

Run: BENCH_SQL=... BENCH_DSN=... uvicorn floor_app:app --app-dir bench --workers 2
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from workload import decode_param

_SPEC: dict[str, list[list[tuple[str, list]]]] = {}
_pool: asyncpg.Pool | None = None


def _load() -> None:
    raw = json.loads(open(os.environ["BENCH_SQL"]).read())
    for name, variants in raw.items():
        _SPEC[name] = [
            [(sql, [decode_param(p) for p in params]) for sql, params in v["statements"]]
            for v in variants
        ]


@asynccontextmanager
async def lifespan(app: Starlette):
    global _pool
    _load()
    size = int(os.environ.get("BENCH_POOL", "20"))
    _pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=2, max_size=size)
    yield
    await _pool.close()


async def endpoint(request):
    statements = _SPEC[request.path_params["name"]][request.path_params["k"]]
    await request.body()  # sent as to the API; its values are already in the statements
    async with _pool.acquire() as conn, conn.transaction():
        rows = []
        for sql, params in statements:
            rows = await conn.fetch(sql, *params)
    body = orjson.dumps([dict(r) for r in rows], default=str)
    return Response(body, media_type="application/json")


app = Starlette(
    routes=[Route("/floor/{name}/{k:int}", endpoint, methods=["GET", "POST", "PUT"])],
    lifespan=lifespan,
)
