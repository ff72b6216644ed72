"""Readiness: is the database reachable, and at which schema revision."""

from __future__ import annotations

from sqlalchemy import text

from focushub.core.runtime import Runtime


async def schema_revision(rt: Runtime) -> str | None:
    """The database's migration revision; raises when the database is unreachable."""
    async with rt.engine.connect() as conn:
        # The login role has no table rights; schema_revision() reads alembic_version for it.
        return (await conn.execute(text("SELECT public.schema_revision()"))).scalar()
