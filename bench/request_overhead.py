"""Per-request database overhead of running as the caller's role.

Compares, on one connection, N sequential transactions of:
  bare:    BEGIN; SELECT 1; COMMIT
  as-user: BEGIN; SELECT set_config('role',…), set_config('request.jwt.claims',…), …,
           session_is_active(…); SELECT 1; COMMIT   (a real account with a live session)
through the same SQLAlchemy/asyncpg path the server uses (focushub.core.db.transaction), and
prints the mean added latency of the role switch. Usage:

    .venv/bin/python bench/request_overhead.py [DATABASE_URL] [N]

Without a URL it starts (or joins) the embedded server in ./.focushub and uses its database.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from focushub.core import bootstrap
from focushub.core.db import ANONYMOUS, Caller, create_engine, transaction
from focushub.migrations import runner


async def signed_in_caller(engine) -> Caller:
    """A real account with a live session, so the session check (0018) does its lookups."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    async with transaction(engine, ANONYMOUS) as tx:
        user = await tx.scalar("SELECT id FROM focushub_auth.sign_up(:e, 'x', 'Bench', :u)",
                               e=f"{name}@example.org", u=name)
        family = await tx.scalar("SELECT focushub_auth.start_session(:uid, :h, now() + interval '1 day')",
                                 uid=user, h=uuid.uuid4().bytes)
    return Caller(role="authenticated", user_id=user,
                  claims={"sub": str(user), "session_id": str(family)})


async def measure(url: str, n: int) -> dict[str, float]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    caller = await signed_in_caller(engine)
    bare: list[float] = []
    as_user: list[float] = []
    try:
        for _ in range(200):  # warm up the connection and statement caches
            async with engine.connect() as conn, conn.begin():
                await conn.execute(text("SELECT 1"))
            async with transaction(engine, caller) as tx:
                await tx.scalar("SELECT 1")
        for _ in range(n):
            t0 = time.perf_counter()
            async with engine.connect() as conn, conn.begin():
                await conn.execute(text("SELECT 1"))
            t1 = time.perf_counter()
            async with transaction(engine, caller) as tx:
                await tx.scalar("SELECT 1")
            t2 = time.perf_counter()
            bare.append((t1 - t0) * 1e6)
            as_user.append((t2 - t1) * 1e6)
    finally:
        await engine.dispose()
    return {
        "bare_median_us": statistics.median(bare),
        "as_user_median_us": statistics.median(as_user),
        "overhead_median_us": statistics.median(as_user) - statistics.median(bare),
    }


def main() -> None:
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    server = None
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        url = sys.argv[1]
    else:
        from focushub.devdb.supervisor import EmbeddedPostgres

        server = EmbeddedPostgres(Path(".focushub").resolve())
        server.start()
        asyncio.run(bootstrap.ensure_database(server.url(), "focushub"))
        owner = server.url(database="focushub")
        runner.upgrade(owner)
        asyncio.run(bootstrap.ensure_login_role(owner))
        url = bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)
    try:
        result = asyncio.run(measure(url, n))
    finally:
        if server is not None:
            server.stop()
    for key, value in result.items():
        print(f"{key:>20}: {value:8.1f}")


if __name__ == "__main__":
    main()
