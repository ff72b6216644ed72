"""A longer fuzzing run of every API operation: the driver of tests/api/test_schemathesis.py
with more examples and a chosen seed.

    .venv/bin/python bench/fuzz.py [--examples 100] [--seed 20261130]
        [--callers anon,signed_in] [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--json OUT]

Starts an embedded PostgreSQL in a temporary directory (or, with ``--server-url``, creates
and at the end drops a database ``focushub_fuzz_<hex>`` on that server), migrates it, and
builds the app in process. Through the API it signs up an author and a second user and makes
a post, a comment, a question, an answer, a group room and a message, whose ids path
parameters take three times out of four. Then, for each caller (no token; the author's
token), every operation of the OpenAPI document gets ``--examples`` requests drawn to fit it
and ``--examples`` drawn to break it, each response checked for: no 5xx, a documented
status, a documented content type, a body valid against the documented schema.

Figures: requests sent, operations, failures (the first failing request of an operation and
mode; generation stops there, without shrinking), wall time. The exit status is 1 when
anything failed. Rows written by one caller's run stay for the next (nothing is emptied in
between), unlike the test, which starts each caller on empty tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focushub.app import create_app  # noqa: E402
from focushub.core import bootstrap  # noqa: E402
from focushub.core.settings import Settings  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402
from focushub.migrations import runner  # noqa: E402
from tests.api.conftest import make_user  # noqa: E402
from tests.api.test_schemathesis import EXAMPLES, SEED, fuzz, known_rows  # noqa: E402

JWT_SECRET = "fuzz-secret-" + "x" * 40


async def prepare(server_url: str, name: str) -> str:
    """A migrated database ``name``; returns the URL of the server's login role on it."""
    await bootstrap.ensure_database(server_url, name)
    owner = bootstrap.with_parts(server_url, database=name)
    await asyncio.to_thread(runner.upgrade, owner)
    await bootstrap.ensure_login_role(owner)
    return bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)


async def make_world(settings: Settings) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The author's session and the ids of rows the author made, through the API."""
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            author, other = await make_user(http), await make_user(http)
            return author, await known_rows(http, author, other)
    finally:
        await app.state.runtime.stop()


def run(database_url: str, data_dir: Path, *, examples: int, seed: int,
        callers: list[str]) -> dict[str, Any]:
    settings = Settings(env="test", database_url=database_url, jwt_secret=JWT_SECRET,
                        data_dir=data_dir, worker_in_process=False, log_level="ERROR")
    author, ids = asyncio.run(make_world(settings))
    app = create_app(settings)
    results: dict[str, Any] = {"examples_per_operation_and_mode": examples, "seed": seed,
                               "callers": {}}
    try:
        loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
        for caller in callers:
            headers = author["headers"] if caller == "signed_in" else {}
            report = fuzz(loaded, headers=headers, examples=examples, rng_seed=seed,
                          known_ids=ids)
            results["callers"][caller] = {
                "requests": report.requests, "operations": report.operations,
                "failures": [{"operation": label, "mode": mode, "what": what}
                             for label, mode, what in report.failures],
                "operations_with_2xx": len(report.succeeded),
                "seconds": round(report.seconds, 1),
            }
            print(f"{caller:10} {report.operations} operations ({len(report.succeeded)} with a "
                  f"2xx), {report.requests} requests, {len(report.failures)} failures, "
                  f"{report.seconds:.1f} s", flush=True)
    finally:
        shutdown_lifespans()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=10 * EXAMPLES,
                    help="requests per operation and generation mode (positive, negative)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--callers", default="anon,signed_in")
    ap.add_argument("--server-url", default=None,
                    help="a PostgreSQL server where a database may be created; "
                         "default: an embedded one in a temporary directory")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    callers = [c.strip() for c in args.callers.split(",") if c.strip()]
    assert set(callers) <= {"anon", "signed_in"}, callers

    with tempfile.TemporaryDirectory(prefix="focushub-fuzz-") as folder:
        name = f"focushub_fuzz_{uuid.uuid4().hex[:10]}"
        server = None
        server_url = args.server_url
        if server_url is None:
            server = EmbeddedPostgres(Path(folder) / "pg")
            server.start()
            server_url = server.url()
        try:
            database_url = asyncio.run(prepare(server_url, name))
            results = run(database_url, Path(folder) / "data", examples=args.examples,
                          seed=args.seed, callers=callers)
        finally:
            if server is not None:
                server.stop()
            else:
                asyncio.run(bootstrap.drop_database(server_url, name))

    for caller, figures in results["callers"].items():
        for failure in figures["failures"]:
            print(f"\n[{caller}] {failure['operation']} ({failure['mode']}):\n{failure['what']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    sys.exit(1 if any(f["failures"] for f in results["callers"].values()) else 0)


if __name__ == "__main__":
    main()
