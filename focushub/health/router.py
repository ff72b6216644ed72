"""Liveness (process up) and readiness (database reachable and fully migrated)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from focushub.core.deps import EngineDep
from focushub.migrations.runner import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(engine: EngineDep) -> JSONResponse:
    expected = head_revision()
    try:
        async with engine.connect() as conn:
            # The login role has no table rights; schema_revision() reads alembic_version for it.
            current = (await conn.execute(text("SELECT public.schema_revision()"))).scalar()
    except Exception as exc:  # any failure means "not ready", with the reason
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "reason": type(exc).__name__}, 503
        )
    if current != expected:
        return JSONResponse(
            {"status": "unavailable", "database": "not migrated", "current": current, "expected": expected},
            503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "revision": current})
