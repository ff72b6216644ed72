"""The ASGI application: settings, engine, routers, error handling."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub import __version__
from focushub.answers.router import router as answers_router
from focushub.auth.router import router as auth_router
from focushub.chat.router import router as chat_router
from focushub.comments.router import router as comments_router
from focushub.core.db import create_engine
from focushub.core.errors import install_error_handlers
from focushub.core.middleware import BodyLimitMiddleware
from focushub.core.settings import Settings, get_settings
from focushub.feed.router import router as feed_router
from focushub.follows.router import router as follows_router
from focushub.health.router import router as health_router
from focushub.notifications.router import router as notifications_router
from focushub.posts.router import router as posts_router
from focushub.questions.router import router as questions_router
from focushub.realtime.bus import RealtimeBus
from focushub.realtime.router import router as realtime_router
from focushub.search.router import router as search_router
from focushub.users.router import router as users_router
from focushub.votes.router import router as votes_router

log = logging.getLogger("focushub")

# Order matters only where paths overlap: fixed segments (e.g. /questions/similar)
# are declared by their router before parameterised ones.
ROUTERS = (
    health_router,
    auth_router,
    users_router,
    follows_router,
    posts_router,
    comments_router,
    questions_router,
    answers_router,
    votes_router,
    feed_router,
    search_router,
    notifications_router,
    chat_router,
    realtime_router,
)


def create_app(settings: Settings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the app. Precondition: ``settings.database_url`` is set (the CLI resolves the
    embedded server first) or an ``engine`` is given; a given engine is not disposed here."""
    settings = settings or get_settings()
    owns_engine = engine is None
    if engine is None:
        if not settings.database_url:
            raise RuntimeError("FOCUSHUB_DATABASE_URL is not set; start the server with `focushub serve`")
        engine = create_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )

    # Realtime fan-out between processes (focushub/realtime/bus.py). It exists from the
    # start so that services can publish; the lifespan connects it.
    bus = RealtimeBus(database_url=settings.database_url, redis_url=settings.redis_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        try:
            yield
        finally:
            await bus.stop()
            if owns_engine:
                await engine.dispose()

    app = FastAPI(
        title="Focus Hub API",
        version=__version__,
        description="Social learning platform: posts, Q&A, chat, resources. "
        "Every request runs under PostgreSQL row-level security as `anon` or `authenticated`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.realtime = bus
    app.state.jwt_secret = settings.resolved_jwt_secret()
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
