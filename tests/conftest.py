"""Test harness: one real PostgreSQL database per test session, emptied after each test.

``FOCUSHUB_TEST_DATABASE_URL`` (a server where we may create databases, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``) is used when set; otherwise an
embedded PostgreSQL is started in ``.focushub-test/``. Either way a fresh database
is created, migrated, and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from focushub.core import bootstrap
from focushub.migrations import runner

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # a fixture's value, not a test class
    server_url: str  # maintenance URL of the server (database "postgres")
    owner_url: str  # schema owner: migrations and test set-up
    app_url: str  # the server's login role (no privileges until SET ROLE)
    name: str


def pytest_configure(config: pytest.Config) -> None:
    # The write limits of new accounts (focushub/safety/limits.py) would refuse the many
    # posts and messages tests write with fresh accounts; tests/api/test_write_limits.py
    # turns them on where they are the subject.
    os.environ.setdefault("FOCUSHUB_WRITE_LIMITS_ENABLED", "false")
    # Tests sign up thousands of accounts: hashing each password at the production cost
    # (0.1 s of CPU) would be a third of the suite. argon2id at its lowest cost is the
    # same code path; tests/core/test_passwords.py checks the production defaults.
    os.environ.setdefault("FOCUSHUB_PASSWORD_TIME_COST", "1")
    os.environ.setdefault("FOCUSHUB_PASSWORD_MEMORY_KIB", "64")
    os.environ.setdefault("FOCUSHUB_PASSWORD_PARALLELISM", "1")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("FOCUSHUB_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from focushub.devdb.supervisor import EmbeddedPostgres

    server = EmbeddedPostgres(ROOT / ".focushub-test")
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def test_db(pg_server_url: str) -> Iterator[TestDatabase]:
    name = f"focushub_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(bootstrap.ensure_database(pg_server_url, name))
    owner_url = bootstrap.with_parts(pg_server_url, database=name)
    try:
        runner.upgrade(owner_url)
        asyncio.run(bootstrap.ensure_login_role(owner_url))
        yield TestDatabase(
            server_url=pg_server_url,
            owner_url=owner_url,
            app_url=bootstrap.with_parts(owner_url, user=bootstrap.APP_LOGIN_ROLE),
            name=name,
        )
    finally:
        asyncio.run(bootstrap.drop_database(pg_server_url, name))


# Every table but the migrations' version and the job workers' registry: a module's server
# keeps its in-process worker across tests, and a worker whose row was emptied under it
# fails at its next job (procrastinate_jobs.worker_id references that row) and restarts.
_TRUNCATE_SQL = """
SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
FROM pg_tables
WHERE schemaname IN ('public', 'auth', 'focushub_auth', 'procrastinate')
  AND tablename NOT IN ('alembic_version', 'procrastinate_workers')
"""


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every table after each test that touched the database."""
    yield
    if "test_db" not in request.fixturenames:
        return
    db: TestDatabase = request.getfixturevalue("test_db")
    conn = await asyncpg.connect(db.owner_url)
    try:
        tables = await conn.fetchval(_TRUNCATE_SQL)
        if tables:
            await _truncate(conn, tables)
    finally:
        await conn.close()


async def _truncate(conn: asyncpg.Connection, tables: str, attempts: int = 5) -> None:
    """TRUNCATE locks the tables one after the other, while a module's server may still be
    writing (its job worker takes a job: one table, then the next). When PostgreSQL breaks
    that deadlock by cancelling the TRUNCATE, it is run again once the writer has gone on."""
    for attempt in range(attempts):
        try:
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            return
        except asyncpg.exceptions.DeadlockDetectedError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


@pytest.fixture
async def owner_conn(test_db: TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the schema owner (bypasses RLS as owner: for set-up and recounts only)."""
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def app_conn(test_db: TestDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the server's login role, exactly as the API connects."""
    conn = await asyncpg.connect(test_db.app_url)
    try:
        yield conn
    finally:
        await conn.close()


async def run_task(test_db: TestDatabase, task: str, settings: object = None,
                   **args: object) -> None:
    """Enqueue ``task`` and run a worker until the queue is empty, as a job runs in production
    (with ``settings``, e.g. the app's storage, when given)."""
    from focushub.core.db import SERVICE
    from focushub.core.settings import Settings
    from focushub.wiring import build_runtime

    if settings is None:
        settings = Settings(env="test", database_url=test_db.app_url, jwt_secret="x" * 40,
                            db_pool_size=2)
    rt = build_runtime(settings)
    try:
        async with rt.transaction(SERVICE) as tx:
            tx.enqueue(task, **args)
        await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False), 60)
    finally:
        await rt.stop()
