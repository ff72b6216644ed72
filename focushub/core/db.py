"""Database access: one engine per process, one transaction per unit of work.

Every unit of work runs inside :func:`transaction`, which switches to the caller's
PostgreSQL role (``anon``, ``authenticated`` or ``service_role``) and publishes the
caller's JWT claims with ``set_config(..., true)`` in a single round trip, so the
row-level security policies of the schema decide what the caller can see and
change. The login role itself has no table privileges of its own: forgetting the
role switch fails closed.

The hot paths (the benchmarked reads and writes, ``docs/performance.md``) run in
:func:`direct_transaction` instead: the same role switch, claims and session check,
the same :class:`Tx` methods and side effects, through asyncpg's own API on a
connection of the direct path's own pool (``core/pool.py``), without SQLAlchemy's
pool, greenlet bridge and result objects; :meth:`DirectTx.json` hands a statement's
JSON text over as bytes.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as _asyncpg_dialect
from sqlalchemy.engine import URL, RowMapping, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from focushub.core.errors import Unauthorized, database_unavailable, translate_driver_error
from focushub.core.events import Event
from focushub.core.jobs import JobRequest
from focushub.core.pool import DirectPool

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
    """Accept plain ``postgresql://`` URLs and point SQLAlchemy at asyncpg.

    libpq's ``sslmode`` (managed PostgreSQL services write it into their URLs) becomes the
    dialect's ``ssl``: SQLAlchemy hands every query parameter to ``asyncpg.connect`` as a
    keyword, and it has no ``sslmode`` (every connection failed with a TypeError).
    """
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            converted = "postgresql+asyncpg://" + url[len(prefix):]
            parsed = make_url(converted)
            mode = parsed.query.get("sslmode")
            if mode is None:
                return converted
            return (parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
                    .render_as_string(hide_password=False))
    raise ValueError("database URL must start with postgresql://")


def _libpq_url(url: URL) -> str:
    """The asyncpg DSN of a SQLAlchemy URL made by :func:`async_url`: a DSN reads ``sslmode``
    (an ``ssl`` in it would be sent to the server as a setting)."""
    plain = url.set(drivername="postgresql")
    mode = plain.query.get("ssl")
    if mode is not None:
        plain = plain.difference_update_query(["ssl"]).update_query_dict({"sslmode": mode})
    return plain.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10,
                  statement_cache: bool = True) -> AsyncEngine:
    """The process's engine. ``statement_cache=False`` for a URL that names a transaction
    pooler (PgBouncer before 1.21): consecutive transactions of one connection may then run
    on different server sessions, where a named prepared statement does not exist, or
    exists under the same name for another query. Statements are then unnamed, and asyncpg
    sends them again (Parse) with every execution, so each one stands alone.

    Nothing else here depends on the session: role and claims are set per transaction
    (``set_config(..., true)``), advisory locks are transaction-scoped, and LISTEN uses
    connections of its own (``Settings.direct_database_url``).
    """
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "focushub"}}
    if not statement_cache:
        connect_args.update(
            statement_cache_size=0,  # asyncpg's own cache (fetch/execute)
            prepared_statement_cache_size=0,  # SQLAlchemy's cache of asyncpg statements
            prepared_statement_name_func=_unnamed,
        )
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "do_connect", _missing_socket_is_refused)
    return engine


def _missing_socket_is_refused(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
    """Connect; a unix socket that is not there is a refused connection. A restarting
    PostgreSQL removes and creates its socket again, and a connection in that instant
    meets no file: that is the database away (503), not a server error (500)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except FileNotFoundError as exc:
        raise ConnectionRefusedError(f"no PostgreSQL socket: {exc}") from exc


def _unnamed() -> str:
    # The unnamed statement; with its cache off asyncpg parses it again at each execution.
    return ""


# One round trip: the role and claims for the transaction, and whether the caller's
# session is still live (ended by logout, token reuse or a password reset, or the
# account deactivated: refused at once, not when the access token expires).
#
# And no JIT compilation for the transaction. A PostgreSQL built with LLVM compiles any
# statement whose estimated cost passes jit_above_cost (100,000), and the planner's
# estimates of statements that filter JSON arrays in subqueries can pass it by far (the
# question page's AI answers' sources, under their policies, were estimated at a million
# before each became a primary-key probe). Compiling costs more than a request: the question
# page took 1.8-2.0 s on PostgreSQL 15 with JIT on, 18 ms with it off. Set per transaction,
# not per connection, so that it holds behind a transaction pooler too (PgBouncer refuses a
# ``jit`` startup parameter).
_SET_CALLER = text(
    "SELECT set_config('role', :role, true),"
    " set_config('request.jwt.claims', :claims, true),"
    " set_config('request.jwt.claim.sub', :sub, true),"
    " set_config('request.jwt.claim.role', :role, true),"
    " set_config('jit', 'off', true),"
    " public.session_is_active(CAST(:session AS uuid), CAST(:uid AS uuid))"
)


class Effects(Protocol):
    """What a transaction's side effects are handed to (the process's runtime)."""

    async def before_commit(self, tx: Tx) -> None:
        """Write the queued jobs and send in-transaction events; last statements of ``tx``."""

    async def after_commit(self, tx: Tx) -> None:
        """Send what could only go out once ``tx`` committed."""


class Tx:
    """A connection inside an open transaction, plus the side effects it commits with.

    :meth:`publish` and :meth:`enqueue` happen if and only if the transaction
    commits: jobs are written in the same transaction, events are sent inside it
    (PostgreSQL NOTIFY, delivered at commit) or right after it.
    """

    def __init__(self, conn: AsyncConnection, caller: Caller, effects: Effects | None = None) -> None:
        self.conn = conn
        self.caller = caller
        self.effects = effects
        self.events: list[Event] = []
        self.jobs: list[JobRequest] = []
        self._before_commit: list[Callable[[Tx], Awaitable[None]]] = []
        self._after_commit: list[Callable[[], Any]] = []

    def publish(self, channel: str, data: dict[str, Any], *, seq: int | None = None,
                stub: dict[str, Any] | None = None) -> None:
        """Send an event to ``channel`` if this transaction commits (see core/events.py)."""
        self._need_effects("publish")
        self.events.append(Event(channel, data, seq, stub))

    def enqueue(self, task: str, *, queueing_lock: str | None = None, **args: Any) -> None:
        """Write a job for ``task`` (a dotted name, e.g. ``mail.send``) in this transaction:
        a rollback leaves no job, a commit never loses it. ``args`` are JSON values (ids).
        With ``queueing_lock`` (e.g. ``ai:<answer id>``) the job is written only if no job
        with that lock is queued or running (``core.jobs``): asking again for work whose
        job was lost queues it once more, and never a second time beside a live one."""
        self._need_effects("enqueue")
        self.jobs.append(JobRequest(task, args, queueing_lock))

    def before_commit(self, fn: Callable[[Tx], Awaitable[None]]) -> None:
        """Run ``fn(tx)`` once, as the last work inside the transaction (before the jobs
        and events are written). For a domain that derives its events from what the
        transaction wrote (chat reads its room events back)."""
        if fn not in self._before_commit:
            self._before_commit.append(fn)

    def after_commit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync or async) after a successful commit; dropped on rollback.
        Never for work that must not be lost: enqueue a job for that."""
        self._after_commit.append(fn)

    def _need_effects(self, what: str) -> None:
        if self.effects is None:
            raise RuntimeError(f"tx.{what}() needs a transaction opened by the runtime")

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

    async def stream_scalars(self, sql: str, **params: Any) -> AsyncIterator[Any]:
        """The first column of each row, fetched in batches through a server-side cursor
        (inside this transaction), for results too large to hold at once."""
        result = await self.conn.stream(text(sql), params)
        try:
            async for value in result.scalars():
                yield value
        finally:
            await result.close()


# ---------------------------------------------------------------- the direct path

_DIALECT = _asyncpg_dialect()


@lru_cache(maxsize=1024)
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with named parameters turned into asyncpg's ``$n``, and the names in order:
    SQLAlchemy's own compilation of ``text(sql)``, so a statement means exactly what it
    means on the SQLAlchemy path. Statements are code constants, so the cache stays small."""
    compiled = text(sql).compile(dialect=_DIALECT)
    return str(compiled), tuple(compiled.positiontup or ())


# Statement observers: ``fn(sql, args)`` for every statement of a direct transaction
# (the SQLAlchemy path has its ``before_cursor_execute`` event). For tests that count
# statements and for bench/run's capture; empty otherwise.
_observers: list[Callable[[str, list[Any]], None]] = []


@contextmanager
def observe_statements(fn: Callable[[str, list[Any]], None]) -> Iterator[None]:
    """Call ``fn(sql, args)`` before each statement a direct transaction sends, inside the
    block (``sql`` as sent, with ``$n`` parameters)."""
    _observers.append(fn)
    try:
        yield
    finally:
        _observers.remove(fn)


def _bind(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    query, names = _positional(sql)
    args = [params[name] for name in names]
    for fn in _observers:
        fn(query, args)
    return query, args


class DirectTx(Tx):
    """A :class:`Tx` on an asyncpg connection (:func:`direct_transaction`): the same
    methods with the same named parameters; rows are asyncpg ``Record`` objects, read by
    column name as ``RowMapping`` rows are. Adds :meth:`json`."""

    conn: asyncpg.Connection  # type: ignore[assignment]

    async def execute(self, sql: str, **params: Any) -> None:
        query, args = _bind(sql, params)
        await self.conn.execute(query, *args)

    async def one(self, sql: str, **params: Any) -> Any:
        rows = await self.all(sql, **params)
        if len(rows) != 1:
            raise RuntimeError(f"expected one row, got {len(rows)}")
        return rows[0]

    async def one_or_none(self, sql: str, **params: Any) -> Any:
        rows = await self.all(sql, **params)
        if len(rows) > 1:
            raise RuntimeError(f"expected at most one row, got {len(rows)}")
        return rows[0] if rows else None

    async def all(self, sql: str, **params: Any) -> list[Any]:
        query, args = _bind(sql, params)
        return await self.conn.fetch(query, *args)

    async def scalar(self, sql: str, **params: Any) -> Any:
        query, args = _bind(sql, params)
        return await self.conn.fetchval(query, *args)

    async def stream_scalars(self, sql: str, **params: Any) -> AsyncIterator[Any]:
        query, args = _bind(sql, params)
        async for record in self.conn.cursor(query, *args):
            yield record[0]

    async def json(self, sql: str, **params: Any) -> bytes | None:
        """The first column of the first row of ``sql``, JSON text built by PostgreSQL
        (``json_build_object``, ``json_agg``), as bytes to send as they are; ``None``
        when there is no row or the value is NULL."""
        value = await self.scalar(sql, **params)
        return None if value is None else value.encode()


_SET_CALLER_SQL = str(_SET_CALLER)


def _caller_params(caller: Caller) -> dict[str, Any]:
    claims = dict(caller.claims)
    sub = str(caller.user_id) if caller.user_id else ""
    if caller.user_id is not None:
        claims.setdefault("sub", sub)
    claims.setdefault("role", caller.role)
    session = claims.get("session_id") if caller.is_authenticated else None
    return {
        "role": caller.role,
        "claims": orjson.dumps(claims).decode(),
        "sub": sub,
        "session": session,
        "uid": sub if session else None,
    }


def _sql_literal(value: str | None) -> str:
    """``value`` as an SQL string constant, or ``NULL``. The ``E'...'`` form with quotes and
    backslashes doubled reads the same whatever ``standard_conforming_strings`` says."""
    if value is None:
        return "NULL"
    if "\x00" in value:  # PostgreSQL text cannot hold it; refuse rather than truncate
        raise ValueError("a caller's claim holds a NUL character")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _begin_as(caller: Caller) -> str:
    """``BEGIN`` and the role statement (:data:`_SET_CALLER`) in one message, with the
    caller's values as constants: one round trip instead of two. The ``SELECT`` returns its
    row, and so switches role and publishes the claims, only when the session is live."""
    params = _caller_params(caller)
    if _observers:  # bench/run replays it as the parameterised statement it is
        _bind(_SET_CALLER_SQL, params)
    return _begin_message(params["role"], params["claims"], params["sub"], params["session"],
                          params["uid"])


@lru_cache(maxsize=4096)
def _begin_message(*values: str | None) -> str:
    """:func:`_begin_as`'s message for the caller's values, written once per caller's
    values (a signed-in caller's are the same on every request of its access token)."""
    role, claims, sub, session, uid = (_sql_literal(value) for value in values)
    return (
        f"BEGIN; SELECT set_config('role', {role}, true),"
        f" set_config('request.jwt.claims', {claims}, true),"
        f" set_config('request.jwt.claim.sub', {sub}, true),"
        f" set_config('request.jwt.claim.role', {role}, true),"
        " set_config('jit', 'off', true)"
        f" WHERE public.session_is_active(CAST({session} AS uuid), CAST({uid} AS uuid))"
    )


_hot_pools: weakref.WeakKeyDictionary[AsyncEngine, DirectPool] = weakref.WeakKeyDictionary()


def hot_pool(engine: AsyncEngine, *, size: int, statement_cache: bool = True) -> DirectPool:
    """The direct path's pool beside ``engine``: the same database and login role, made at
    the first call and shared by every runtime on that engine (tests build many apps on
    one engine), as the engine's own pool is. Whoever disposes of the engine closes it
    (``Runtime.stop``); one left open is closed when the engine is collected."""
    pool = _hot_pools.get(engine)
    if pool is None:
        url = _libpq_url(engine.url)
        sync_engine = weakref.ref(engine.sync_engine)

        def start_engine_over() -> None:
            # The hot path met a connection that lost its server: the engine's pool holds
            # connections of the same age, so it starts over as well, as it would had it
            # met one itself (SQLAlchemy's invalidation on disconnect).
            engine_now = sync_engine()
            if engine_now is not None:
                engine_now.dispose(close=False)

        pool = _hot_pools[engine] = DirectPool(url, size=size, statement_cache=statement_cache,
                                               on_lost=start_engine_over)

        @event.listens_for(engine.sync_engine, "handle_error")
        def _lost(context: Any) -> None:
            # ...and the other way round: the engine met one, the hot pool drops its own.
            if context.is_disconnect:
                pool.terminate()

        weakref.finalize(engine, pool.terminate)
    return pool


@asynccontextmanager
async def direct_transaction(
    pool: DirectPool, caller: Caller, effects: Effects | None = None
) -> AsyncIterator[DirectTx]:
    """:func:`transaction` on asyncpg directly, with the same guarantees: the statement
    that switches role, publishes the claims and checks the session comes first; jobs
    and events commit with the transaction; hooks run after the commit.

    The connection comes from the direct path's own pool (``core/pool.py``: the same
    database and login role as the engine's, lent in under a microsecond instead of the
    engine's hundred). ``BEGIN`` travels with the role statement (:func:`_begin_as`), so
    a transaction of one statement costs three round trips, not four. Errors of the
    database come out as the :class:`AppError` the SQLAlchemy path maps them to
    (``core.errors.translate_driver_error``), or as they are when they are ours; a
    connection that broke is dropped, not returned to the pool.
    """
    conn, begun = await _begin_direct(pool, caller)
    broken = lost = False
    try:
        try:
            if begun != "SELECT 1":
                raise Unauthorized("This session has ended; sign in again",
                                   code="session_ended")
            tx = DirectTx(conn, caller, effects)
            yield tx
            await _before_commit(tx, effects)
            await conn.execute("COMMIT")
        except BaseException:
            # Whatever stopped the work (an error, a cancelled request), the transaction
            # it leaves open, aborted or not, is rolled back before the connection goes
            # back to the pool, and a connection still busy with a cancelled statement
            # (whose ROLLBACK asyncpg refuses) or whose ROLLBACK failed is dropped. Even
            # outside a transaction: a request cancelled while BEGIN was on its way has
            # not seen the transaction begin.
            if not conn.is_closed():
                try:
                    await conn.execute("ROLLBACK")
                except BaseException:
                    broken = True  # never back to the pool inside a transaction
                    raise
            raise
    except Exception as exc:
        # A connection that broke (its backend ended, the socket closed, the protocol
        # left mid-operation) never goes back to the pool: the request is a 503, as on
        # the SQLAlchemy path, and the next one gets a fresh connection.
        if conn.is_closed() or isinstance(exc, asyncpg.InternalClientError):
            broken, lost = True, conn.is_closed()
            raise database_unavailable() from exc
        if not isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
            raise  # ours (an AppError of the service, say)
        err = translate_driver_error(exc)
        if err is None:
            raise
        if err.status_code == 503:
            broken = lost = True
        raise err from exc
    finally:
        if broken or conn.is_closed() or conn.is_in_transaction():
            pool.discard(conn, lost=lost)
        else:
            pool.release(conn)
    await _after_commit(tx, effects)


async def _begin_direct(pool: DirectPool, caller: Caller) -> tuple[asyncpg.Connection, str]:
    """A connection of ``pool`` inside a transaction begun as ``caller``, and the status of
    that first statement (``SELECT 1`` while the caller's session is live).

    An idle connection may have lost its server since it was last used (the database
    restarted, an administrator or a pooler ended it) without the pool knowing yet. The
    first statement is where that shows, before anything was done, so the transaction
    begins once more on a new connection (the pool drops those of the same age with the
    lost one) instead of answering 503. A second loss is the database away: 503."""
    for attempt in (1, 2):
        try:
            conn = await pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise (translate_driver_error(exc) or database_unavailable()) from exc
        try:
            return conn, await conn.execute(_begin_as(caller))
        except BaseException as exc:
            if _connection_lost(exc, conn):
                pool.discard(conn, lost=True)
                if attempt == 1:
                    log.info("a pooled connection had lost its server; beginning again")
                    continue
                raise database_unavailable() from exc
            # Anything else (a cancelled request, an error of the statement): whatever
            # the connection holds, it does not go back to the pool.
            pool.discard(conn)
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
                raise (translate_driver_error(exc) or database_unavailable()) from exc
            raise
    raise AssertionError("unreachable")


def _connection_lost(exc: BaseException, conn: asyncpg.Connection) -> bool:
    """Whether ``exc`` (raised by a statement on ``conn``) means the connection lost its
    server: closed, or ended by a restart or an administrator."""
    return conn.is_closed() or isinstance(exc, _LOST)


_LOST = (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError,
         asyncpg.CrashShutdownError)


async def _before_commit(tx: Tx, effects: Effects | None) -> None:
    """The last work inside a transaction: the domain's hooks, then its jobs and events."""
    for fn in tx._before_commit:
        await fn(tx)
    if effects is not None and (tx.events or tx.jobs):
        await effects.before_commit(tx)


async def _after_commit(tx: Tx, effects: Effects | None) -> None:
    """Once the transaction committed: what is sent after the commit, then the hooks."""
    if effects is not None and tx.events:
        await effects.after_commit(tx)
    await _run_hooks(tx._after_commit)


async def _run_hooks(hooks: list[Callable[[], Any]]) -> None:
    for hook in hooks:
        try:
            result = hook()
            if inspect.isawaitable(result):
                await result
        except Exception:  # a side effect must never turn a committed request into an error
            log.exception("after-commit hook failed")


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, caller: Caller, effects: Effects | None = None
) -> AsyncIterator[Tx]:
    """Open a transaction as ``caller``; commit on success, roll back on any exception.

    Guarantees: every statement inside runs under the caller's role and claims;
    jobs and events of :meth:`Tx.enqueue` / :meth:`Tx.publish` are written or sent
    with the commit and vanish with a rollback; :meth:`Tx.after_commit` hooks run only
    after the commit succeeded. Use ``Runtime.transaction`` to get ``effects``.
    """
    for attempt in (1, 2):
        try:
            async with engine.connect() as conn:
                async with conn.begin():
                    try:
                        result = await conn.execute(_SET_CALLER, _caller_params(caller))
                    except DBAPIError as exc:
                        # As on the direct path (:func:`_begin_direct`): a pooled connection
                        # that lost its server shows it here, before anything was done;
                        # SQLAlchemy has invalidated it and those of its age, so the
                        # transaction begins once more on a new one.
                        if attempt == 1 and _engine_connection_lost(exc):
                            raise _BeginAgain from exc
                        raise
                    if not result.one()[-1]:
                        raise Unauthorized("This session has ended; sign in again",
                                           code="session_ended")
                    tx = Tx(conn, caller, effects)
                    yield tx
                    await _before_commit(tx, effects)
        except _BeginAgain:
            log.info("a pooled connection had lost its server; beginning again")
            continue
        await _after_commit(tx, effects)
        return


class _BeginAgain(Exception):
    """The first statement of :func:`transaction` met a connection that lost its server."""


def _engine_connection_lost(exc: DBAPIError) -> bool:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return exc.connection_invalidated or isinstance(cause, _LOST)
