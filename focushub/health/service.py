"""Readiness: is the database reachable, and at which schema revision."""

from __future__ import annotations

from sqlalchemy import text

from focushub.core import observability
from focushub.core.db import SERVICE
from focushub.core.runtime import Runtime


async def schema_revision(rt: Runtime) -> str | None:
    """The database's migration revision; raises when the database is unreachable."""
    async with rt.engine.connect() as conn:
        # The login role has no table rights; schema_revision() reads alembic_version for it.
        return (await conn.execute(text("SELECT public.schema_revision()"))).scalar()


async def refresh_gauges(rt: Runtime) -> None:
    """Read what the metrics show as levels: the pool in use, the job queue by status."""
    observability.DB_POOL_IN_USE.set(rt.connections_in_use())
    async with rt.transaction(SERVICE) as tx:
        rows = await tx.all("SELECT status::text AS status, count(*) AS n"
                            " FROM procrastinate.procrastinate_jobs GROUP BY 1")
    for status in ("todo", "doing", "succeeded", "failed", "cancelled", "aborted"):
        observability.JOBS.labels(status).set(0)
    for row in rows:
        observability.JOBS.labels(row["status"]).set(row["n"])
