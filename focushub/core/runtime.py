"""The runtime: what one process builds once and every part of it shares.

The server, the CLI and the worker each build one :class:`Runtime` (see
``focushub/wiring.py``, which also registers the domains' tasks and event
bridges) holding the settings, the database engine, the event bus, the job
queue and the object store. Services receive it as their first argument and open
their transactions with :meth:`Runtime.transaction`, whose side effects (events,
jobs) commit with it.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import procrastinate
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.batching import GroupCommit, Write
from focushub.core.db import (
    Caller,
    DirectTx,
    Tx,
    create_engine,
    direct_transaction,
    hot_pool,
    transaction,
)
from focushub.core.events import EventBus
from focushub.core.jobs import JobQueue
from focushub.core.ratelimit import Limiter, open_limiter
from focushub.core.security import Passwords
from focushub.core.settings import Settings
from focushub.integrations.storage import ObjectStore, open_store

log = logging.getLogger("focushub.runtime")

T = TypeVar("T")
R = TypeVar("R")


def runtime_of(context: procrastinate.JobContext) -> Runtime:
    """The runtime of the worker running this job (tasks get the job context first)."""
    return context.additional_context["runtime"]


class Runtime:
    """Settings, engine, event bus, job queue, object storage and rate limiter of one process."""

    def __init__(self, settings: Settings, engine: AsyncEngine, bus: EventBus, jobs: JobQueue,
                 *, owns_engine: bool, storage: ObjectStore | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.bus = bus
        self.jobs = jobs
        self.storage = storage or open_store(
            storage_url=settings.storage_url, data_dir=settings.data_dir.resolve(),
            endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=(settings.s3_secret_access_key.get_secret_value()
                               if settings.s3_secret_access_key else None))
        # The HS256 signing key (in development generated once into the data dir).
        self.jwt_secret = settings.resolved_jwt_secret()
        self.passwords = Passwords(time_cost=settings.password_time_cost,
                                   memory_kib=settings.password_memory_kib,
                                   parallelism=settings.password_parallelism)
        # The hot paths' connections (core/pool.py): the engine's database and login role.
        self.direct_pool = hot_pool(engine, size=settings.db_hot_pool_size,
                                    statement_cache=settings.db_statement_cache)
        # Shared by every process: Redis when configured, else PostgreSQL.
        self.limiter: Limiter = open_limiter(redis_url=settings.redis_url,
                                             pool=self.direct_pool)
        self._owns_engine = owns_engine
        self._groups: dict[str, GroupCommit[Any, Any]] = {}

    @classmethod
    def build(cls, settings: Settings, *, engine: AsyncEngine | None = None,
              pool_size: int | None = None) -> Runtime:
        """Precondition: ``settings.database_url`` is set (the CLI resolves the embedded
        server first). A given ``engine`` is not disposed by :meth:`stop`."""
        if not settings.database_url:
            raise RuntimeError("FOCUSHUB_DATABASE_URL is not set; start with `focushub serve`")
        owns_engine = engine is None
        if engine is None:
            engine = create_engine(
                settings.database_url,
                pool_size=pool_size or settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                statement_cache=settings.db_statement_cache,
            )
        # LISTEN keeps a session: the bus and the workers' listener bypass a pooler.
        listen_url = settings.listen_database_url()
        bus = EventBus(database_url=listen_url, redis_url=settings.redis_url)
        jobs = JobQueue(settings.database_url, listen_url=listen_url,
                        pool_size=settings.job_pool_size,
                        statement_cache=settings.db_statement_cache)
        return cls(settings, engine, bus, jobs, owns_engine=owns_engine)

    def transaction(self, caller: Caller) -> AbstractAsyncContextManager[Tx]:
        """A transaction as ``caller`` whose events and jobs commit with it."""
        return transaction(self.engine, caller, self)

    def group_commit(self, name: str, write: Write[T, R], *, lanes: int = 4,
                     max_items: int = 100) -> GroupCommit[T, R]:
        """The process's group commit called ``name`` (made by its first caller), which hands
        the items waiting together to ``write`` (core/batching.py). Stopped with the runtime."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = GroupCommit(name, write, lanes=lanes, max_items=max_items)
        return group

    def direct_transaction(self, caller: Caller) -> AbstractAsyncContextManager[DirectTx]:
        """:meth:`transaction` on asyncpg directly, for the hot paths (see CONTRIBUTING.md,
        "Hot paths"): the same role, claims, session check and side effects."""
        return direct_transaction(self.direct_pool, caller, self)

    def connections_in_use(self) -> int:
        """Database connections this process has lent out now: the engine's and the hot
        paths' pools."""
        checked_out = getattr(self.engine.pool, "checkedout", None)
        engine_in_use = checked_out() if callable(checked_out) else 0
        return engine_in_use + self.direct_pool.in_use

    # Effects: called by core.db.transaction.
    async def before_commit(self, tx: Tx) -> None:
        if tx.jobs:
            await self.jobs.defer_in_transaction(tx, tx.jobs)
        await self.bus.send_in_transaction(tx, tx.events)

    async def after_commit(self, tx: Tx) -> None:
        await self.bus.send_committed(tx.events)

    async def start(self, *, events: bool = True) -> None:
        """Connect the event bus (``events``) and open the job queue's pool."""
        if events:
            await self.bus.start()
        await self.jobs.open()

    async def stop(self) -> None:
        for group in self._groups.values():
            await group.close()
        await self.bus.stop()
        await self.jobs.close()
        await self.limiter.close()
        if self._owns_engine:
            await self.direct_pool.close()
            await self.engine.dispose()
