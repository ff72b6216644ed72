"""The ASGI application: the runtime, routers, error handling, the in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub import __version__
from focushub.accounts.router import router as accounts_router
from focushub.admin.router import router as admin_router
from focushub.ai.router import router as ai_router
from focushub.answers.router import router as answers_router
from focushub.auth.router import router as auth_router
from focushub.chat.router import consent_router as chat_consent_router
from focushub.chat.router import router as chat_router
from focushub.comments.router import router as comments_router
from focushub.core import observability
from focushub.core.deps import mark_optional_sign_in
from focushub.core.errors import ERROR_RESPONSES, install_error_handlers, storage_unavailable
from focushub.core.middleware import BodyLimitMiddleware
from focushub.core.observability import RequestContextMiddleware, configure_logging
from focushub.core.routing import DirectDispatch
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings, get_settings
from focushub.feed.router import router as feed_router
from focushub.follows.router import router as follows_router
from focushub.health.router import router as health_router
from focushub.integrations.storage import StorageUnavailable
from focushub.notifications.router import router as notifications_router
from focushub.posts.router import router as posts_router
from focushub.questions.router import router as questions_router
from focushub.realtime.router import RealtimeEntrance
from focushub.reports.router import router as reports_router
from focushub.resources.router import router as resources_router
from focushub.safety.router import router as safety_router
from focushub.search.router import router as search_router
from focushub.users.router import router as users_router
from focushub.votes.router import router as votes_router
from focushub.web import errors as web_errors
from focushub.web.assets import VersionedStaticFiles
from focushub.web.compression import Compression
from focushub.web.kit import HERE as WEB_HERE
from focushub.web.pages import router as web_router
from focushub.wiring import build_runtime

WEB_STATIC = WEB_HERE / "static"

log = logging.getLogger("focushub")

# Endpoints that take multipart/form-data (a file), up to FOCUSHUB_MAX_UPLOAD_BYTES.
UPLOAD_PATHS = (
    re.compile(r"/api/v1/resources"),
    re.compile(r"/api/v1/users/me/avatar"),
    re.compile(r"/api/v1/chat/rooms/[^/]+/attachments"),
    re.compile(r"/resources/new"),
    re.compile(r"/settings/avatar"),
    re.compile(r"/chat/[^/]+/attachments"),
)

# Order matters where paths overlap: fixed segments (e.g. /questions/similar) are declared
# by their router before parameterised ones. A request is matched against the routes in
# this order, so the most requested ones come first (matching a route costs a few
# microseconds; a request for the last of about 200 routes spent more time finding it than
# authenticating). The hot paths of docs/performance.md lead.
ROUTERS = (
    feed_router,
    questions_router,
    search_router,
    votes_router,
    comments_router,
    posts_router,
    answers_router,
    health_router,
    auth_router,
    users_router,
    accounts_router,
    safety_router,
    follows_router,
    resources_router,
    reports_router,
    ai_router,
    notifications_router,
    chat_router,
    chat_consent_router,
    admin_router,
)


async def _sample_levels(rt: Runtime, every: float = 5.0) -> None:
    """With the processes' metrics in one directory, a scrape reaches one process only: each
    keeps its own level of connections in use there, as of a few seconds ago at most."""
    while True:
        observability.DB_POOL_IN_USE.set(rt.connections_in_use())
        await asyncio.sleep(every)


def create_app(settings: Settings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the app and its runtime. Precondition: ``settings.database_url`` is set (the
    CLI resolves the embedded server first) or an ``engine`` is given; a given engine is
    not disposed here.

    The lifespan connects the event bus and, unless ``FOCUSHUB_WORKER_IN_PROCESS`` is
    off, runs a job worker in this process; stopping lets running jobs finish first.
    """
    settings = settings or get_settings()
    if settings.env != "test":  # each server process (uvicorn --workers) logs the same way
        configure_logging(settings.log_level, settings.log_format)
    rt = build_runtime(settings, engine=engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await rt.start()
        worker = None
        if settings.worker_in_process:
            worker = asyncio.create_task(rt.jobs.keep_worker_running(
                rt, concurrency=settings.worker_concurrency,
                shutdown_timeout=settings.worker_shutdown_timeout), name="focushub-worker")
        sampler = None
        if observability.MULTIPROCESS_DIR is not None:
            sampler = asyncio.create_task(_sample_levels(rt), name="focushub-metrics")
        try:
            yield
        finally:
            for task in (worker, sampler):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await rt.stop()
            observability.process_exiting()

    # Swagger UI and ReDoc from files shipped in a Python package, not a CDN: /docs works offline.
    app = FastAPIOffline(
        title="Focus Hub API",
        version=__version__,
        description="Social learning platform: posts, Q&A, chat, resources. "
        "Every request runs under PostgreSQL row-level security as `anon` or `authenticated`.",
        lifespan=lifespan,
        telemetry={"tracing": settings.otel, "metrics": settings.otel, "logs": settings.otel},
    )
    app.state.runtime = rt
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_credentials=True, allow_methods=["GET", "POST", "PUT", "PATCH",
                                                                  "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
                           expose_headers=["Retry-After", "ETag", "Content-Range"], max_age=600)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       upload_max_bytes=settings.max_upload_bytes + 1024 * 1024,
                       upload_paths=UPLOAD_PATHS, refusal=web_errors.body_refusal)
    # gzip for pages, JSON, CSS and scripts of 1 KiB or more; never downloads or event streams.
    app.add_middleware(Compression, minimum_size=1024, compresslevel=6)
    # Outermost: every request, errors included, gets its id, access log line and metrics.
    app.add_middleware(RequestContextMiddleware)
    # The realtime WebSocket skips the HTTP layers above (focushub/realtime/router.py).
    app.add_middleware(RealtimeEntrance)
    install_error_handlers(app, unavailable={StorageUnavailable: storage_unavailable})
    for router in ROUTERS:
        # Every error status an operation may answer, documented with the one error shape.
        app.include_router(router, responses=ERROR_RESPONSES)
    # The web app: pages over the same services, its static files, its error pages.
    app.include_router(web_router)
    app.mount("/static", VersionedStaticFiles(directory=str(WEB_STATIC)), name="static")
    web_errors.install(app)
    mark_optional_sign_in(app)
    # A request for a direct route goes straight to it; FastAPI routes everything else.
    app.router.middleware_stack = DirectDispatch(app.router)
    return app
