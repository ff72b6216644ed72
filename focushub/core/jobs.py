"""Background jobs on PostgreSQL, with procrastinate.

A job is written by :meth:`focushub.core.db.Tx.enqueue` in the transaction that
asks for it, so a rolled-back request leaves no job and a committed one never
loses it (it waits in ``procrastinate_jobs`` across crashes and restarts).
Workers take jobs with ``FOR UPDATE SKIP LOCKED``, so two workers never run one
job; a job whose worker died (no heartbeat) is put back by the periodic
``jobs.retry_stalled`` task. A task that raises is retried by its retry
strategy (exponential backoff); after its last attempt the job stays ``failed``
(the dead state: ``focushub jobs`` lists it, ``focushub jobs --retry ID`` runs it again).

Tasks live next to their domain (``<domain>/tasks.py``) in a :class:`TaskSet`,
take ids (never objects), and are idempotent: a job may run again after a crash
between its work and its completion. They receive the procrastinate job context
and get the process's runtime with ``core.runtime.runtime_of``. (A ``TaskSet`` rather than
a procrastinate ``Blueprint``: a blueprint's tasks are bound to the last app that
registered them, and tests build several runtimes in one process.)

The queue tables belong to ``service_role``: request roles can neither read nor
write them. :meth:`JobQueue.defer_in_transaction` therefore writes a request's
jobs as ``service_role`` (``SET LOCAL ROLE``) as the last statement before the
commit; the worker's connections log in as the server's role and switch to
``service_role`` (and procrastinate's schema) at the start of every transaction,
never for the session, so they work through a transaction-pooling proxy
(PgBouncer) whose server sessions other clients share. The worker's wake-up
listener (LISTEN) needs a session of its own: it connects to the direct URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import procrastinate
import psycopg
from procrastinate.psycopg_connector import PsycopgConnector

from focushub.core.events import Executes, plain_dsn

log = logging.getLogger("focushub.jobs")

QUEUE = "default"
# The first run and up to 8 retries, waiting 2 s, 4 s, … 256 s in between (procrastinate
# waits exponential_wait ** (attempts + 1) seconds).
DEFAULT_RETRY = procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2)

# A job with a queueing lock also takes it as its procrastinate ``lock``: procrastinate keeps
# one ``todo`` job per queueing lock (a unique index) and runs one ``doing`` job per lock, so
# "queued or running" is an indexed look-up on either column. Such a job is written only when
# no job holding its lock is queued or running; a job that failed for good, or was cancelled,
# no longer holds it, so the same lock may then be queued again.
_DEFER = """
SELECT procrastinate.procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(:queue, j.task, 0, j.qlock, j.qlock, j.args, NULL)
        ::procrastinate.procrastinate_job_to_defer_v1
    FROM unnest(CAST(:tasks AS text[]), CAST(:args AS jsonb[]), CAST(:qlocks AS text[]))
        WITH ORDINALITY AS j(task, args, qlock, ord)
    WHERE j.qlock IS NULL OR NOT EXISTS (
        SELECT 1 FROM procrastinate.procrastinate_jobs p
        WHERE (p.status = 'todo' AND p.queueing_lock = j.qlock)
           OR (p.status = 'doing' AND p.lock = j.qlock))
    ORDER BY j.ord))
"""

# Two transactions deferring the same queueing lock at once would both find it free, and the
# second would fail on procrastinate's unique index (and with it its whole request). Each
# takes the locks' transaction-scoped advisory locks first, in one order, so the second
# waits for the first to commit and then, in its next statement, finds the job queued.
_HOLD_QUEUEING_LOCKS = """
SELECT pg_advisory_xact_lock(hashtextextended('job-queueing-lock:' || q, 0))
FROM (SELECT DISTINCT q FROM unnest(CAST(:qlocks AS text[])) AS q ORDER BY q) AS s
"""


# The start of each transaction of procrastinate's own queries: the login role has no
# rights of its own (NOINHERIT), and those queries name procrastinate's tables unqualified.
_AS_QUEUE_OWNER = (
    "SELECT set_config('role', 'service_role', true),"
    " set_config('search_path', 'procrastinate', true)"
)


class _Connector(PsycopgConnector):
    """procrastinate's psycopg connector, with nothing kept in the session.

    Each query runs in a transaction of its own (the pool's connection context commits
    it) that first switches role and search path for that transaction only. The wake-up
    listener connects to ``listen_conninfo`` (PostgreSQL itself, not a pooler), where
    LISTEN keeps its session. (``_get_cursor`` and ``_get_standalone_connection`` are
    procrastinate 3's internals: the version is pinned in pyproject.toml.)
    """

    def __init__(self, *, listen_conninfo: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listen_conninfo = listen_conninfo

    @contextlib.asynccontextmanager
    async def _get_cursor(self, connection: Any = None) -> AsyncIterator[Any]:
        async with super()._get_cursor(connection) as cursor:
            if connection is None:
                await cursor.execute(_AS_QUEUE_OWNER)
            yield cursor

    @contextlib.asynccontextmanager
    async def _get_standalone_connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        conn = await psycopg.AsyncConnection.connect(
            self._listen_conninfo, autocommit=True, application_name="focushub-jobs-listener")
        async with conn:
            yield conn


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job asked for inside a transaction, written when it commits."""

    task: str
    args: dict[str, Any]
    queueing_lock: str | None = None


TaskFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    func: TaskFunction
    retry: procrastinate.RetryStrategy | bool
    cron: str | None


@dataclass
class TaskSet:
    """The jobs of one domain, declared once and registered on each runtime's queue."""

    specs: list[TaskSpec] = field(default_factory=list)

    def task(self, name: str, *, retry: procrastinate.RetryStrategy | bool = DEFAULT_RETRY,
             cron: str | None = None) -> Callable[[TaskFunction], TaskFunction]:
        """Declare ``func(context, **args)`` as the task ``name`` (dotted, e.g.
        ``mail.send``). ``cron``: also defer it on that schedule (each worker process
        schedules; PostgreSQL keeps one job per tick); periodic tasks get ``timestamp``."""
        def declare(func: TaskFunction) -> TaskFunction:
            self.specs.append(TaskSpec(name, func, retry, cron))
            return func
        return declare


class JobQueue:
    """The process's job queue: task registry, deferral in transactions, workers."""

    def __init__(self, database_url: str, *, listen_url: str | None = None, pool_size: int = 4,
                 statement_cache: bool = True) -> None:
        """``listen_url``: PostgreSQL itself for the workers' LISTEN (default ``database_url``);
        ``statement_cache=False`` behind a transaction pooler (see ``core.db.create_engine``)."""
        kwargs: dict[str, Any] = {"application_name": "focushub-jobs"}
        if not statement_cache:
            kwargs["prepare_threshold"] = None  # psycopg never prepares a named statement
        self.connector = _Connector(
            listen_conninfo=plain_dsn(listen_url or database_url),
            conninfo=plain_dsn(database_url),
            kwargs=kwargs,
            min_size=1,
            max_size=pool_size,
        )
        self.app = procrastinate.App(connector=self.connector)
        self._open = False

    def register(self, task_sets: Iterable[TaskSet]) -> None:
        for task_set in task_sets:
            for spec in task_set.specs:
                task = self.app.task(name=spec.name, pass_context=True, retry=spec.retry,
                                     queue=QUEUE)(spec.func)
                if spec.cron is not None:
                    self.app.periodic(cron=spec.cron, periodic_id=spec.name)(task)

    @property
    def task_names(self) -> set[str]:
        return set(self.app.tasks)

    async def open(self) -> None:
        if not self._open:
            await self.app.open_async()
            self._open = True

    async def close(self) -> None:
        if self._open:
            await self.app.close_async()
            self._open = False

    async def defer_in_transaction(self, tx: Executes, jobs: list[JobRequest]) -> None:
        """Write ``jobs`` as the last statements of ``tx`` (as service_role). A job with a
        queueing lock is written only if no job with that lock is queued or running (nor
        earlier in ``jobs``), so it is never queued twice."""
        unknown = {job.task for job in jobs} - self.task_names
        if unknown and self.task_names:
            raise LookupError(f"no such task: {', '.join(sorted(unknown))}")
        qlocks: set[str] = set()
        if any(job.queueing_lock is not None for job in jobs):
            kept = []
            for job in jobs:
                if job.queueing_lock is None or job.queueing_lock not in qlocks:
                    kept.append(job)
                if job.queueing_lock is not None:
                    qlocks.add(job.queueing_lock)
            jobs = kept
        await tx.execute("SELECT set_config('role', 'service_role', true)")
        if qlocks:
            await tx.execute(_HOLD_QUEUEING_LOCKS, qlocks=sorted(qlocks))
        await tx.execute(
            _DEFER,
            queue=QUEUE,
            tasks=[job.task for job in jobs],
            args=[orjson.dumps(job.args).decode() for job in jobs],
            qlocks=[job.queueing_lock for job in jobs],
        )

    async def keep_worker_running(self, runtime: Any, *, concurrency: int = 2,
                                  shutdown_timeout: float | None = 30.0) -> None:
        """Run a worker until cancelled, starting it again whenever it stops by itself.

        procrastinate stops a worker whose LISTEN connection fails, as when the database
        restarts; a server's in-process worker must come back with the database, not
        leave the jobs of this process unrun until someone restarts it. Backoff: 1, 2, 4…
        up to 30 s between attempts, reset once a worker has run a minute.
        """
        delay = 1.0
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self.run_worker(runtime, concurrency=concurrency,
                                      shutdown_timeout=shutdown_timeout)
                log.warning("jobs: the worker stopped; starting it again in %.0f s", delay)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("jobs: the worker failed; starting it again in %.0f s", delay,
                            exc_info=True)
            if asyncio.get_running_loop().time() - started > 60:
                delay = 1.0
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def run_worker(
        self,
        runtime: Any,
        *,
        concurrency: int = 2,
        wait: bool = True,
        shutdown_timeout: float | None = 30.0,
        install_signal_handlers: bool = False,
        name: str | None = None,
    ) -> None:
        """Run a worker until cancelled (``wait=False``: until the queue is empty).

        ``runtime`` (the process's ``Runtime``) is handed to every task (``runtime_of``).

        Cancelling it stops fetching and lets running jobs finish for up to
        ``shutdown_timeout`` seconds; jobs cut off then are retried by a later worker.
        """
        await self.open()
        await self.app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            wait=wait,
            name=name,
            shutdown_graceful_timeout=shutdown_timeout,
            install_signal_handlers=install_signal_handlers,
            additional_context={"runtime": runtime},
            # A job's row is kept: succeeded ones are pruned by jobs.prune_finished.
            delete_jobs="never",
        )

