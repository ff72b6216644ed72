"""The direct path's own pool of asyncpg connections.

The hot paths (``core.db.direct_transaction``) drive asyncpg directly. Lending them a
connection through SQLAlchemy's pool cost about 100 µs of CPU per request on the
development machine (a greenlet for the checkout and another for the return, the
engine's and the pool's events), as much as the rest of the transaction; asyncpg's own
``Pool`` cost about as much even with its reset query off (a task per release for its
``shield``). This pool does only what the direct path needs, in 0.33 µs for the lending
and return of an idle connection: idle connections are a last-in-first-out list, a request
that finds none opens one up to ``size``, beyond that it queues (first come, first served)
for the next one released, and gives up after ``timeout`` seconds with the database
unavailable (503), as a checkout of the engine's pool does.

Nothing of a transaction outlives it here either: role and claims are transaction-local
(``set_config(..., true)``), the direct path never LISTENs, never PREPAREs by name
outside asyncpg's statement cache and takes only transaction-scoped advisory locks, and
a connection leaves the pool only outside a transaction (``core.db`` rolls back or
closes it first). A connection that broke is dropped and its place freed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import asyncpg

from focushub.core.errors import database_unavailable


class DirectPool:
    """At most ``size`` asyncpg connections to ``dsn`` (a ``postgresql://`` URL), opened
    when first needed. ``statement_cache=False`` behind a transaction pooler (see
    ``core.db.create_engine``)."""

    def __init__(self, dsn: str, *, size: int, statement_cache: bool = True,
                 timeout: float = 30.0, application_name: str = "focushub",
                 on_lost: Callable[[], None] | None = None) -> None:
        if size < 1:
            raise ValueError("a pool needs room for one connection")
        self.size = size
        self.on_lost = on_lost  # told when a connection lost its server
        self.timeout = timeout
        self._dsn = dsn
        self._connect_kwargs: dict[str, Any] = {
            "server_settings": {"application_name": application_name}}
        if not statement_cache:
            self._connect_kwargs["statement_cache_size"] = 0
        self._idle: list[asyncpg.Connection] = []
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._open = 0  # connections that exist or are being opened
        self._retired: set[asyncpg.Connection] = set()  # lent out when the pool was closed
        self._lent: set[asyncpg.Connection] = set()

    @property
    def in_use(self) -> int:
        """Connections lent out now."""
        return self._open - len(self._idle)

    async def acquire(self) -> asyncpg.Connection:
        """A connection outside any transaction; 503 when none frees up in time."""
        while True:
            if self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    self._lent.add(conn)
                    return conn
                # Closed while idle: its server ended it (a restart, an administrator).
                self.discard(conn, lost=True)
                continue
            if self._open < self.size:
                conn = await self._connect()
                self._lent.add(conn)
                return conn
            conn = await self._wait()
            if conn is not None:
                self._lent.add(conn)
                return conn
            # None: a place was freed (a connection dropped); try again.

    def release(self, conn: asyncpg.Connection) -> None:
        """Give back a connection that is outside a transaction; a closed one frees its
        place. The first waiter, if any, gets it."""
        if conn in self._retired or conn.is_closed():
            self.discard(conn)
            return
        self._lent.discard(conn)
        if not self._wake(conn):
            self._idle.append(conn)

    def discard(self, conn: asyncpg.Connection, *, lost: bool = False) -> None:
        """Drop a connection that must not be used again (closed now if still open).
        ``lost``: it lost its server (a restart, a pooler or an administrator ended it), so
        the idle ones, opened before, are dropped with it, as SQLAlchemy's pool does: after
        a restart a process answers one 503 for the pool, not one per connection."""
        _terminate(conn)
        self._lent.discard(conn)
        self._retired.discard(conn)
        self._open -= 1
        if lost:
            self.terminate()
            if self.on_lost is not None:
                self.on_lost()
        self._wake(None)

    async def close(self) -> None:
        """Close the idle connections; those lent out are closed when given back. Like
        SQLAlchemy's ``engine.dispose()``, the pool opens new ones if used again."""
        idle, self._idle = self._idle, []
        self._retired |= self._lent
        for conn in idle:
            self._open -= 1
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                _terminate(conn)

    def terminate(self) -> None:
        """:meth:`close` without waiting: the idle connections' sockets closed at once."""
        idle, self._idle = self._idle, []
        self._retired |= self._lent
        for conn in idle:
            self._open -= 1
            _terminate(conn)

    async def _connect(self) -> asyncpg.Connection:
        self._open += 1
        try:
            return await asyncpg.connect(self._dsn, **self._connect_kwargs)
        except BaseException as exc:
            self._open -= 1
            self._wake(None)
            if isinstance(exc, FileNotFoundError):
                # A restarting PostgreSQL removes and creates its socket again: no file is
                # the database away (503), as on the engine's path, not a server error.
                raise ConnectionRefusedError(f"no PostgreSQL socket: {exc}") from exc
            raise

    async def _wait(self) -> asyncpg.Connection | None:
        waiter: asyncio.Future[asyncpg.Connection | None] = (
            asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except BaseException as exc:
            # Timed out or cancelled: a connection handed over in the same instant goes on
            # to the next in line.
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self.release(waiter.result())
            if isinstance(exc, TimeoutError):
                raise database_unavailable() from None
            raise
        finally:
            if not waiter.done():
                waiter.cancel()

    def _wake(self, conn: asyncpg.Connection | None) -> bool:
        """Hand ``conn`` (or ``None``: a place freed) to the first waiter still waiting;
        whether there was one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False


def _terminate(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        conn.terminate()
    except RuntimeError:  # at exit, its event loop may be closed already
        pass
