"""Liveness (process up) and readiness (database reachable and fully migrated)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from focushub.core.deps import RuntimeDep
from focushub.health import service
from focushub.migrations.runner import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    expected = head_revision()
    try:
        current = await service.schema_revision(rt)
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
