"""Readiness: is the database reachable, and at which schema revision."""

from __future__ import annotations

import math

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from focushub.core import observability
from focushub.core.db import SERVICE
from focushub.core.runtime import Runtime

# SQLSTATE undefined_function: schema_revision() is made by the migrations (0004).
_UNDEFINED_FUNCTION = "42883"


async def schema_revision(rt: Runtime) -> str | None:
    """The database's migration revision, None for a database the migrations never reached;
    raises when the database is unreachable."""
    async with rt.engine.connect() as conn:
        # The login role has no table rights; schema_revision() reads alembic_version for it.
        try:
            return (await conn.execute(text("SELECT public.schema_revision()"))).scalar()
        except DBAPIError as exc:
            orig = exc.orig
            state = getattr(orig, "sqlstate", None) or getattr(
                getattr(orig, "__cause__", None), "sqlstate", None)
            if state == _UNDEFINED_FUNCTION:
                return None
            raise


_JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


async def refresh_gauges(rt: Runtime) -> None:
    """Read what the metrics show as levels: the pool in use, the job queue by status."""
    observability.DB_POOL_IN_USE.set(rt.connections_in_use())
    try:
        async with rt.transaction(SERVICE) as tx:
            rows = await tx.all("SELECT status::text AS status, count(*) AS n"
                                " FROM procrastinate.procrastinate_jobs GROUP BY 1")
    except Exception:
        # Unknown, not the last counts read: a scrape during an outage must not show a
        # queue that looks calm (or stuck) as current.
        for status in _JOB_STATUSES:
            observability.JOBS.labels(status).set(math.nan)
        raise
    for status in _JOB_STATUSES:
        observability.JOBS.labels(status).set(0)
    for row in rows:
        observability.JOBS.labels(row["status"]).set(row["n"])
