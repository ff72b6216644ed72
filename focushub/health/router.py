"""Liveness (process up) and readiness (database reachable and fully migrated)."""

from __future__ import annotations

import hmac
import logging

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from focushub.core import observability
from focushub.core.deps import RuntimeDep
from focushub.core.errors import Unauthorized
from focushub.core.routing import Router
from focushub.health import service
from focushub.migrations.runner import head_revision, revisions

log = logging.getLogger("focushub.health")

router = Router(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str = Field(description="ok, or unavailable")
    database: str = Field(description="ok, unreachable or not migrated")
    revision: str | None = None
    current: str | None = Field(default=None, description="Not migrated: the database's revision")
    expected: str | None = Field(default=None, description="Not migrated: the code's revision")
    reason: str | None = Field(default=None, description="Unreachable: the kind of failure")


@router.get("/readyz", response_model=Readiness, responses={
    503: {"model": Readiness, "description": "Not ready: the database is unreachable or not "
                                             "fully migrated"}},
    description="Ready: the database answers at this version's schema, or at a newer "
                "release's (a rolling deploy migrates before it replaces the processes).")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    expected = head_revision()
    try:
        current = await service.schema_revision(rt)
    except Exception as exc:  # any failure means "not ready", with the reason
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "reason": type(exc).__name__}, 503
        )
    # A revision this code does not have is a newer release's: during a rolling deploy the
    # new version migrates first, and the old processes keep serving until replaced
    # (changes go out in two releases, docs/deployment.md). Failing them there took every
    # old process out of a load balancer (or a container healthcheck) at once.
    if current != expected and (current is None or current in revisions()):
        return JSONResponse(
            {"status": "unavailable", "database": "not migrated", "current": current, "expected": expected},
            503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "revision": current})


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: RuntimeDep, request: Request) -> Response:
    """Prometheus metrics of this process, or of every server process when they share a
    metrics directory (``focushub serve --workers N``); with FOCUSHUB_METRICS_TOKEN, for
    its bearer only."""
    token = rt.settings.metrics_token
    if token is not None and not hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {token.get_secret_value()}"):
        raise Unauthorized("Metrics need the metrics token", code="metrics_token_required")
    try:
        await service.refresh_gauges(rt)
    except Exception:  # the process's own counters are still worth reading
        log.warning("metrics: could not read the job queue", exc_info=True)
    return Response(observability.exposition(), media_type=CONTENT_TYPE_LATEST)
