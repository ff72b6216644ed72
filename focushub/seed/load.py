"""Load a generated data set with COPY, as the schema owner, over several connections at once.

Rows are generated while they are copied: each COPY consumes the chunks of
:meth:`focushub.seed.generate.Dataset.chunks` as they are made, so the Python
process holds only the data set's plan and one chunk per COPY in flight (its
peak memory grows by a few bytes per row of the plan, not with the rows), and
generation overlaps the server's work.

How a load runs:

0. **Plan**, in a thread, from the start: :func:`focushub.seed.generate.plan`
   draws its stages in turn, and a table may load as soon as the stage it needs
   (:data:`focushub.seed.generate.NEEDS`) is drawn.
1. **Prepare** (one committed transaction): refuse a database that has users
   unless ``reset`` (changing nothing); with ``reset``, or when content is there
   without users (the leftovers of a load that was killed), empty it with
   ``TRUNCATE users CASCADE``.
2. **Content** (:data:`CONTENT_ORDER`): every table in its own transaction, up
   to ``jobs`` tables at once, each on its own connection: the posts first (the
   critical path), then biggest first among those whose part of the plan is drawn. In
   its transaction a table's secondary indexes and the unique constraints no
   foreign key relies on are dropped, the rows are COPYed, then the indexes and
   constraints are rebuilt from their own definitions (``pg_get_indexdef``,
   ``pg_get_constraintdef``). A table's indexes are therefore never missing
   outside its own uncommitted transaction, whatever happens to the process.
3. **Users last** (:data:`FINAL_TABLES`, users and their credentials): one
   transaction, committed only after every content table has committed. It is
   the mark of a complete load: **a database with users holds a complete load**.
4. ANALYZE (per table, as each commits) and the recount check
   (:func:`recount_mismatches`, its queries spread over the connections).

Every transaction runs with ``session_replication_role = replica``: no trigger
fires (counters, notifications, foreign-key checks), which is safe because the
generator writes consistent rows and computes every counter itself; the primary
keys stay (rows come in id order, so their B-trees are appended to), and the
rebuilt unique constraints check what they always check.

**Failure.** If anything fails after step 1 began to change the database and
before the users commit, the loader stops the
other connections' backends and empties what committed (``TRUNCATE users
CASCADE``, as ``reset`` does) before raising; a process killed midway leaves
content without users, which no consumer takes for a load (they seed a
database without users) and which the next ``seed_database`` empties first.
With ``reset``, the old content is emptied in step 1: a failed load leaves an
empty database, not the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from focushub.seed.generate import COLUMNS, NEEDS, Dataset, counts_for, generate

log = logging.getLogger("focushub.seed")

# Every seeded account logs in with this password (one argon2 hash shared by all).
SEED_PASSWORD = "focushub-seed-password"

# Loaded concurrently, each in its own transaction; biggest (longest) first, so that
# the last table to start is a short one.
CONTENT_ORDER = ("posts", "votes", "comments", "answers", "followers", "question_views",
                 "questions", "ai_answers", "resources")
# Loaded last, in the transaction whose commit marks the load complete.
FINAL_TABLES = ("users", "focushub_auth.credentials")
# Parents before children (no FK is checked during the load, but this keeps it readable).
LOAD_ORDER = ("users", "focushub_auth.credentials", "followers", "posts", "comments", "questions",
              "answers", "ai_answers", "resources", "votes", "question_views")
assert set(LOAD_ORDER) == set(CONTENT_ORDER) | set(FINAL_TABLES)

# Connections loading at once. The server's work (tsvectors, index builds) and the
# generator's overlap best with one more connection than cores (measured, docs/performance.md).
DEFAULT_JOBS = min(4, (os.cpu_count() or 2) + 1)


class SeedError(RuntimeError):
    pass


@dataclass
class SeedReport:
    """What a load did. ``seconds`` holds consecutive phases (their sum is the wall
    time); ``tables`` the copy and index seconds of each table, which overlap."""

    scale: float
    seed: int
    jobs: int = 1
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    tables: dict[str, dict[str, float]] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)
    plan_seconds: float = 0.0  # drawing the plan, while the first tables load

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


# Per loaded table, what the load drops and rebuilds: indexes that back no constraint
# (kind 'index'), and unique or exclusion constraints (kind 'constraint'); never a
# primary key, nor an index a foreign key relies on.
_DROPPABLE = """
SELECT format('%I.%I', n.nspname, c.relname) AS tbl,
       format('%I.%I', n.nspname, ic.relname) AS index_name,
       quote_ident(k.conname) AS conname,
       CASE WHEN k.oid IS NULL THEN 'index' ELSE 'constraint' END AS kind,
       CASE WHEN k.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
            ELSE pg_get_constraintdef(k.oid) END AS def
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
     AND k.contype IN ('p', 'u', 'x')
WHERE n.nspname || '.' || c.relname = ANY($1::text[])
  AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
ORDER BY 1, 2
"""

# Rows whose stored counter differs from a recount, per counter. All zero after a seed.
# A few statements, so that they can run on several connections at once; the four
# counters of votes share one pass over the votes.
RECOUNT_QUERIES: tuple[str, ...] = (
    """WITH v AS (
    SELECT votable_type, votable_id,
           sum(CASE vote_type WHEN 'upvote' THEN 1 ELSE -1 END)::int AS score
    FROM votes GROUP BY 1, 2
)
SELECT
  (SELECT count(*) FROM posts p LEFT JOIN v ON v.votable_type = 'post' AND v.votable_id = p.id
    WHERE p.likes_count <> coalesce(v.score, 0)) AS posts_likes_count,
  (SELECT count(*) FROM comments p LEFT JOIN v ON v.votable_type = 'comment' AND v.votable_id = p.id
    WHERE p.likes_count <> coalesce(v.score, 0)) AS comments_likes_count,
  (SELECT count(*) FROM questions p LEFT JOIN v ON v.votable_type = 'question' AND v.votable_id = p.id
    WHERE p.votes_count <> coalesce(v.score, 0)) AS questions_votes_count,
  (SELECT count(*) FROM answers p LEFT JOIN v ON v.votable_type = 'answer' AND v.votable_id = p.id
    WHERE p.votes_count <> coalesce(v.score, 0)) AS answers_votes_count""",
    """SELECT count(*) AS posts_comments_count FROM posts p LEFT JOIN
      (SELECT post_id, count(*) n FROM comments GROUP BY 1) c
      ON c.post_id = p.id WHERE p.comments_count <> coalesce(c.n, 0)""",
    """SELECT count(*) AS comments_replies_count FROM comments p LEFT JOIN
      (SELECT parent_id, count(*) n FROM comments WHERE parent_id IS NOT NULL GROUP BY 1) r
      ON r.parent_id = p.id WHERE p.replies_count <> coalesce(r.n, 0)""",
    """SELECT
  (SELECT count(*) FROM questions p LEFT JOIN (SELECT question_id, count(*) n FROM answers GROUP BY 1) a
    ON a.question_id = p.id WHERE p.answers_count <> coalesce(a.n, 0)) AS questions_answers_count,
  (SELECT count(*) FROM questions p LEFT JOIN (SELECT question_id, count(*) n FROM question_views
    GROUP BY 1) w ON w.question_id = p.id
    WHERE p.views_count <> coalesce(w.n, 0)) AS questions_views_count,
  (SELECT count(*) FROM questions q WHERE (q.status = 'answered') <> EXISTS
    (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.is_accepted)
    AND q.status <> 'closed') AS questions_status""",
)
RECOUNTED = ("posts_likes_count", "posts_comments_count", "comments_likes_count",
             "comments_replies_count", "questions_votes_count", "questions_answers_count",
             "questions_views_count", "answers_votes_count", "questions_status")


async def recount_mismatches(conn: asyncpg.Connection) -> dict[str, int]:
    """Per counter, how many rows disagree with a recount (the schema owner bypasses RLS)."""
    found: dict[str, int] = {}
    for sql in RECOUNT_QUERIES:
        found.update(await conn.fetchrow(sql))
    return {name: found[name] for name in RECOUNTED}


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or "public", name


def _qualified(table: str) -> str:
    return ".".join(_split(table))


async def _rows(data: Dataset, table: str) -> AsyncIterator[tuple[Any, ...]]:
    """The table's rows for COPY, giving way to the other COPYs after each chunk."""
    for chunk in data.chunks(table):
        for row in chunk:
            yield row
        await asyncio.sleep(0)


async def _begin_load(conn: asyncpg.Connection) -> None:
    # Inside the load's transaction only (SET LOCAL): nothing outlives it.
    await conn.execute("SET LOCAL session_replication_role = replica")
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")


async def _load_tables(conn: asyncpg.Connection, tables: Iterable[str], data: Dataset,
                       droppable: dict[str, list[asyncpg.Record]], report: SeedReport) -> None:
    """Drop, COPY, rebuild: the caller holds the transaction."""
    tables = tuple(tables)
    for table in tables:
        for d in droppable.get(_qualified(table), ()):
            if d["kind"] == "index":
                await conn.execute(f"DROP INDEX {d['index_name']}")
            else:
                await conn.execute(f'ALTER TABLE {d["tbl"]} DROP CONSTRAINT {d["conname"]}')
    for table in tables:
        started = time.perf_counter()
        schema, name = _split(table)
        await conn.copy_records_to_table(name, schema_name=schema, columns=list(COLUMNS[table]),
                                         records=_rows(data, table))
        report.rows[table] = data.rows[table]
        report.tables.setdefault(table, {})["copy"] = time.perf_counter() - started
        log.info("generated and copied %s rows into %s in %.1fs", data.rows[table], table,
                 report.tables[table]["copy"])
    for table in tables:
        started = time.perf_counter()
        for d in droppable.get(_qualified(table), ()):
            if d["kind"] == "index":
                await conn.execute(d["def"])
            else:
                await conn.execute(f'ALTER TABLE {d["tbl"]} ADD CONSTRAINT {d["conname"]} {d["def"]}')
        report.tables[table]["indexes"] = time.perf_counter() - started


async def _analyze(conn: asyncpg.Connection, tables: Iterable[str], report: SeedReport) -> None:
    for table in tables:
        started = time.perf_counter()
        await conn.execute(f"ANALYZE {_qualified(table)}")
        report.tables[table]["analyze"] = time.perf_counter() - started


async def _run_pool(url: str, jobs: int, take: Callable[[], Awaitable[Any]],
                    work: Callable[[asyncpg.Connection, Any], Awaitable[None]],
                    pids: set[int]) -> None:
    """Run ``work(conn, item)`` for every item ``take()`` gives (until it gives None) on
    ``jobs`` connections; the first failure cancels the rest and is raised."""

    async def worker() -> None:
        conn = await asyncpg.connect(url)
        pids.add(conn.get_server_pid())
        ok = False
        try:
            while (item := await take()) is not None:
                await work(conn, item)
            ok = True
        finally:
            if ok:
                await conn.close()
            else:
                conn.terminate()

    tasks = [asyncio.create_task(worker()) for _ in range(jobs)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # raises the first failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _taker(items: list[Any]) -> Callable[[], Awaitable[Any]]:
    async def take() -> Any:
        return items.pop(0) if items else None
    return take


async def seed_database(
    owner_url: str, *, scale: float, seed: int = 42, reset: bool = False, check: bool = True,
    password_hash: str | None = None, jobs: int = DEFAULT_JOBS,
) -> SeedReport:
    """Fill the database at ``owner_url`` (the schema owner, migrated to head).

    Refuses a database that already has users unless ``reset``, which first empties
    every content table (``TRUNCATE users CASCADE``). On return the load is complete
    (users are the last rows committed); if it raises, the database holds no users and
    no content, except after a failure of the cleanup itself, when the next call empties
    the leftovers. See the module's docstring.
    """
    if scale <= 0:
        raise SeedError("scale must be positive")
    if jobs < 1:
        raise SeedError("jobs must be at least 1")
    report = SeedReport(scale=scale, seed=seed, jobs=jobs)
    if password_hash is None:
        from focushub.core.security import Passwords

        password_hash = Passwords().hash(SEED_PASSWORD)
    gc_threshold = gc.get_threshold()
    # The rows are short-lived tuples freed by reference counting, but their number
    # triggers the cycle collector, which then walks every object of the application
    # (a third of the generator's time). Old objects are set aside and young ones
    # collected a hundred times less often, for the load only.
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        return await _seed(owner_url, report, password_hash, check=check, reset=reset)
    finally:
        gc.set_threshold(*gc_threshold)
        gc.unfreeze()


async def _seed(owner_url: str, report: SeedReport, password_hash: str, *, check: bool,
                reset: bool) -> SeedReport:
    scale, seed, jobs = report.scale, report.seed, report.jobs
    loop = asyncio.get_running_loop()
    anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # The plan is drawn in a thread while the tables whose part of it is drawn load
    # (generate.NEEDS): the server starts on the posts' tsvectors a third of the way in.
    drawn: dict[str, Dataset] = {}
    stop = threading.Event()

    def on_drawn(stage: str, data: Dataset) -> None:
        if stop.is_set():
            raise SeedError("the load stopped")
        loop.call_soon_threadsafe(drawn.__setitem__, stage, data)

    def draw() -> float:
        t0 = time.perf_counter()
        generate(scale, seed, anchor, password_hash, on_drawn)
        log.info("planned in %.1fs", time.perf_counter() - t0)
        return time.perf_counter() - t0

    log.info("planning scale %s (seed %s)", scale, seed)
    started = time.perf_counter()
    planning = asyncio.ensure_future(asyncio.to_thread(draw))
    pids: set[int] = set()
    conn: asyncpg.Connection | None = None
    loading = False  # from the first change to the database on, a failure empties it
    try:
        conn = await asyncpg.connect(owner_url)
        pids.add(conn.get_server_pid())
        existing = await conn.fetchval("SELECT count(*) FROM public.users")
        if existing and not reset:
            raise SeedError(
                f"the database already has {existing} users; pass --reset to replace all content"
            )
        leftovers = existing or any([
            await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_qualified(t)})")
            for t in CONTENT_ORDER
        ])
        loading = True
        if leftovers:
            log.info("emptying %s", "the old content" if existing else "the leftovers of a failed load")
            await conn.execute("TRUNCATE public.users CASCADE")
        droppable: dict[str, list[asyncpg.Record]] = {}
        for d in await conn.fetch(_DROPPABLE, [_qualified(t) for t in LOAD_ORDER]):
            droppable.setdefault(d["tbl"], []).append(d)
        report.seconds["prepare"] = time.perf_counter() - started

        remaining = list(CONTENT_ORDER)

        async def take() -> str | None:
            # Biggest first among the tables whose part of the plan is drawn; but none
            # before the biggest, the load's critical path: until its part of the plan is
            # drawn, the plan has the Python process to itself.
            while remaining:
                if CONTENT_ORDER[0] in remaining:
                    ready = [CONTENT_ORDER[0]] if NEEDS[CONTENT_ORDER[0]] in drawn else []
                else:
                    ready = [t for t in remaining if NEEDS[t] in drawn]
                table = ready[0] if ready else None
                if table is not None:
                    remaining.remove(table)
                    return table
                if planning.done():
                    planning.result()  # the plan's own failure
                await asyncio.sleep(0.05)
            return None

        async def content(c: asyncpg.Connection, table: str) -> None:
            data = drawn[NEEDS[table]]
            async with c.transaction():
                await _begin_load(c)
                await _load_tables(c, (table,), data, droppable, report)
            await _analyze(c, (table,), report)

        started = time.perf_counter()
        await _run_pool(owner_url, jobs, take, content, pids)
        report.plan_seconds = await planning
        report.seconds["plan and content"] = time.perf_counter() - started

        started = time.perf_counter()
        async with conn.transaction():
            await _begin_load(conn)
            await _load_tables(conn, FINAL_TABLES, drawn["answers"], droppable, report)
        report.seconds["users"] = time.perf_counter() - started
    except BaseException:
        stop.set()
        if conn is not None:
            conn.terminate()
        if loading:
            await _empty_after_failure(owner_url, pids)
        with contextlib.suppress(BaseException):
            await planning  # ends at its next stage
        raise
    try:
        started = time.perf_counter()
        await _analyze(conn, FINAL_TABLES, report)
        report.seconds["analyze users"] = time.perf_counter() - started
        if check:
            started = time.perf_counter()
            found: dict[str, int] = {}

            async def recount(c: asyncpg.Connection, sql: str) -> None:
                found.update(await c.fetchrow(sql))

            await _run_pool(owner_url, jobs, _taker(list(RECOUNT_QUERIES)), recount, set())
            report.mismatches = {name: found[name] for name in RECOUNTED}
            report.seconds["check"] = time.perf_counter() - started
    finally:
        await conn.close()
    return report


async def _empty_after_failure(url: str, pids: set[int]) -> None:
    """Stop the load's backends (their transactions roll back; a closed socket alone
    would leave an index build running) and empty what committed, so that a failed
    load leaves no users and no content."""
    log.warning("the load failed: emptying what it committed")
    try:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid = ANY($1::int[]) AND datname = current_database()", list(pids))
            async with conn.transaction():
                # Never wait forever behind someone else's lock: the next seed can do it.
                await conn.execute("SET LOCAL lock_timeout = '60s'")
                await conn.execute("TRUNCATE public.users CASCADE")
        finally:
            await conn.close()
    except Exception:  # the caller raises the load's own error
        log.exception("could not empty the failed load; the next seed will")


def expected_counts(scale: float) -> dict[str, Any]:
    return counts_for(scale)
