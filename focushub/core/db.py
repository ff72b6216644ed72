"""Database access: one engine per process, one transaction per unit of work.

Every unit of work runs inside :func:`transaction`, which switches to the caller's
PostgreSQL role (``anon``, ``authenticated`` or ``service_role``) and publishes the
caller's JWT claims with ``set_config(..., true)`` in a single round trip, so the
row-level security policies of the schema decide what the caller can see and
change. The login role itself has no table privileges of its own: forgetting the
role switch fails closed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger("focushub.db")

DbRole = Literal["anon", "authenticated", "service_role"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a request, as far as the database is concerned."""

    role: DbRole
    user_id: UUID | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_authenticated(self) -> bool:
        return self.role == "authenticated" and self.user_id is not None


ANONYMOUS = Caller(role="anon")
# Jobs and maintenance only. service_role has BYPASSRLS, as on Supabase; triggers
# still apply to it. Every use is visible by this name.
SERVICE = Caller(role="service_role", claims={"role": "service_role"})


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and point SQLAlchemy at asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError("database URL must start with postgresql://")


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "focushub"}},
    )


_SET_CALLER = text(
    "SELECT set_config('role', :role, true),"
    " set_config('request.jwt.claims', :claims, true),"
    " set_config('request.jwt.claim.sub', :sub, true),"
    " set_config('request.jwt.claim.role', :role, true)"
)


class Tx:
    """A connection inside an open transaction, plus work to run once it commits."""

    def __init__(self, conn: AsyncConnection, caller: Caller) -> None:
        self.conn = conn
        self.caller = caller
        self._after_commit: list[Callable[[], Any]] = []

    def after_commit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after a successful commit; dropped on rollback."""
        self._after_commit.append(fn)

    async def execute(self, sql: str, **params: Any) -> None:
        await self.conn.execute(text(sql), params)

    async def one(self, sql: str, **params: Any) -> RowMapping:
        return (await self.conn.execute(text(sql), params)).mappings().one()

    async def one_or_none(self, sql: str, **params: Any) -> RowMapping | None:
        return (await self.conn.execute(text(sql), params)).mappings().one_or_none()

    async def all(self, sql: str, **params: Any) -> list[RowMapping]:
        return list((await self.conn.execute(text(sql), params)).mappings().all())

    async def scalar(self, sql: str, **params: Any) -> Any:
        return (await self.conn.execute(text(sql), params)).scalar()


async def _run_hooks(hooks: list[Callable[[], Any]]) -> None:
    for hook in hooks:
        try:
            result = hook()
            if inspect.isawaitable(result):
                await result
        except Exception:  # a side effect must never turn a committed request into an error
            log.exception("after-commit hook failed")


@asynccontextmanager
async def transaction(engine: AsyncEngine, caller: Caller) -> AsyncIterator[Tx]:
    """Open a transaction as ``caller``; commit on success, roll back on any exception.

    Guarantees: every statement inside runs under the caller's role and claims;
    hooks registered with :meth:`Tx.after_commit` run only after the commit succeeded.
    """
    claims = dict(caller.claims)
    if caller.user_id is not None:
        claims.setdefault("sub", str(caller.user_id))
    claims.setdefault("role", caller.role)
    async with engine.connect() as conn:
        async with conn.begin():
            await conn.execute(
                _SET_CALLER,
                {
                    "role": caller.role,
                    "claims": orjson.dumps(claims).decode(),
                    "sub": str(caller.user_id) if caller.user_id else "",
                },
            )
            tx = Tx(conn, caller)
            yield tx
        hooks = tx._after_commit
    await _run_hooks(hooks)

