"""Side effects that commit with the transaction, and the job queue's guarantees.

Jobs run on procrastinate workers against the test database, through the same
``build_runtime`` the server and the CLI use; the test tasks below are
registered on top of the product's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import asyncpg
import procrastinate
import pytest

from focushub.core import maintenance
from focushub.core.db import SERVICE
from focushub.core.events import FANOUT_CHANNEL
from focushub.core.jobs import TaskSet
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings
from focushub.wiring import build_runtime
from tests.conftest import ROOT, TestDatabase

RUNS: list[tuple[int, int]] = []
test_tasks = TaskSet()


class Boom(Exception):
    pass


@test_tasks.task("test.record")
async def record(context: procrastinate.JobContext, n: int) -> None:
    RUNS.append((context.job.id, n))
    await asyncio.sleep(0.01)  # long enough for the other worker to look for work meanwhile


@test_tasks.task("test.always_fails", retry=procrastinate.RetryStrategy(max_attempts=3))
async def always_fails(context: procrastinate.JobContext) -> None:
    raise Boom("no luck")


@test_tasks.task("test.backoff", retry=procrastinate.RetryStrategy(max_attempts=5,
                                                                    exponential_wait=2))
async def backoff(context: procrastinate.JobContext) -> None:
    raise Boom("later")


@test_tasks.task("test.slow")
async def slow(context: procrastinate.JobContext, seconds: float) -> None:
    await asyncio.sleep(seconds)
    RUNS.append((context.job.id, -1))


def make_runtime(test_db: TestDatabase) -> Runtime:
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret="x" * 40,
                        db_pool_size=2, db_max_overflow=2)
    rt = build_runtime(settings)
    rt.jobs.register([test_tasks])
    return rt


@pytest.fixture
async def rt(test_db: TestDatabase) -> AsyncIterator[Runtime]:
    RUNS.clear()
    runtime = make_runtime(test_db)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def jobs_of(owner_conn: asyncpg.Connection, task: str) -> list[dict[str, Any]]:
    rows = await owner_conn.fetch(
        "SELECT id, status::text AS status, attempts, args, scheduled_at"
        " FROM procrastinate.procrastinate_jobs WHERE task_name = $1 ORDER BY id", task)
    return [dict(r) for r in rows]


async def drain(rt: Runtime) -> None:
    """Run a worker until no job is due."""
    await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False, concurrency=4), 60)


# --- commit or nothing ------------------------------------------------------------------------


async def test_a_rolled_back_transaction_leaves_no_job_and_sends_no_event(rt, owner_conn):
    channel = f"test:{uuid4()}"
    heard: list[str] = []
    listener = await asyncpg.connect(rt.settings.database_url)
    await listener.add_listener(FANOUT_CHANNEL, lambda *a: heard.append(a[3]))
    await rt.start()
    try:
        with pytest.raises(Boom):
            async with rt.transaction(SERVICE) as tx:
                tx.enqueue("test.record", n=1)
                tx.publish(channel, {"type": "test"})
                raise Boom
        async with rt.transaction(SERVICE) as tx:  # a committed one, to know when to stop
            tx.enqueue("test.record", n=2)
            tx.publish(channel, {"type": "test", "n": 2})
        for _ in range(200):
            if heard:
                break
            await asyncio.sleep(0.01)
    finally:
        await listener.close()
    assert [j["args"] for j in await jobs_of(owner_conn, "test.record")] == ['{"n": 2}']
    assert len(heard) == 1 and '"n":2' in heard[0]


async def test_jobs_need_a_runtime_transaction(test_db, rt):
    from focushub.core.db import transaction

    async with transaction(rt.engine, SERVICE) as tx:
        with pytest.raises(RuntimeError, match="runtime"):
            tx.enqueue("test.record", n=1)


async def test_an_unknown_task_name_fails_the_transaction(rt, owner_conn):
    with pytest.raises(LookupError):
        async with rt.transaction(SERVICE) as tx:
            tx.enqueue("test.no_such_task")
    assert await owner_conn.fetchval("SELECT count(*) FROM procrastinate.procrastinate_jobs") == 0


async def test_a_queueing_lock_keeps_one_job_queued_or_running_and_frees_when_it_ends(
        rt, owner_conn):
    async def enqueue(n: int) -> None:
        async with rt.transaction(SERVICE) as tx:
            await tx.execute("SELECT pg_sleep(0.05)")  # the transactions overlap
            tx.enqueue("test.record", queueing_lock="record:1", n=n)
            tx.enqueue("test.record", queueing_lock="record:1", n=n)  # twice in one: once

    # Ten at once: none fails on procrastinate's unique index, one job is queued.
    await asyncio.gather(*(enqueue(n) for n in range(10)))
    (job,) = await jobs_of(owner_conn, "test.record")
    assert job["status"] == "todo"
    await owner_conn.execute(  # as a worker takes it
        "UPDATE procrastinate.procrastinate_jobs SET status = 'doing' WHERE id = $1", job["id"])
    await enqueue(11)
    assert [j["status"] for j in await jobs_of(owner_conn, "test.record")] == ["doing"]
    await owner_conn.execute(
        "UPDATE procrastinate.procrastinate_jobs SET status = 'failed' WHERE id = $1", job["id"])
    await enqueue(12)
    assert [(j["status"], j["args"]) for j in await jobs_of(owner_conn, "test.record")] == [
        ("failed", job["args"]), ("todo", '{"n": 12}')]
    await drain(rt)
    assert [n for _, n in RUNS] == [12]


async def test_request_roles_cannot_touch_the_queue(app_conn):
    for role in ("anon", "authenticated"):
        async with app_conn.transaction():
            await app_conn.execute(f"SET LOCAL ROLE {role}")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app_conn.fetch("SELECT * FROM procrastinate.procrastinate_jobs")


_DIE_AFTER_COMMIT = """
import asyncio, os, signal, sys
from focushub.core.db import SERVICE
from focushub.core.settings import Settings
from focushub.wiring import build_runtime

async def main():
    rt = build_runtime(Settings(env="test", database_url=sys.argv[1], jwt_secret="x" * 40))
    await rt.start(events=True)
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("mail.send", outbox_id=-1)
        tx.publish(sys.argv[2], {"type": "last words"})
    os.kill(os.getpid(), signal.SIGKILL)  # nothing runs after the commit

asyncio.run(main())
"""


async def test_a_committed_job_and_event_survive_the_process_dying_right_after_commit(
        test_db, rt, owner_conn):
    channel = f"test:{uuid4()}"
    heard: list[str] = []
    listener = await asyncpg.connect(test_db.app_url)
    await listener.add_listener(FANOUT_CHANNEL, lambda *a: heard.append(a[3]))
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _DIE_AFTER_COMMIT, test_db.app_url, channel, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert await asyncio.wait_for(proc.wait(), 60) == -9
        for _ in range(200):
            if heard:
                break
            await asyncio.sleep(0.01)
    finally:
        await listener.close()
    assert len(heard) == 1 and channel in heard[0]
    (job,) = await jobs_of(owner_conn, "mail.send")
    assert job["status"] == "todo"
    await drain(rt)  # the job is still there for the next worker
    (job,) = await jobs_of(owner_conn, "mail.send")
    assert job["status"] == "succeeded"


# --- retries, the dead state, two workers, shutdown ----------------------------------------------


async def test_a_failing_job_is_retried_then_left_failed_and_can_be_retried_by_hand(
        rt, owner_conn):
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("test.always_fails")
    for _ in range(5):  # a drained worker stops when it finds nothing due, even for a moment
        await drain(rt)
        (job,) = await jobs_of(owner_conn, "test.always_fails")
        if job["status"] == "failed":
            break
    assert (job["status"], job["attempts"]) == ("failed", 4)  # the first run and 3 retries
    state = await maintenance.queue_state(rt)
    assert [f["id"] for f in state["failed"]] == [job["id"]]
    assert {"task_name": "test.always_fails", "status": "failed", "jobs": 1} in state["counts"]

    assert await maintenance.retry_failed(rt, job["id"]) is True
    assert await maintenance.retry_failed(rt, job["id"]) is False  # not failed any more
    (job,) = await jobs_of(owner_conn, "test.always_fails")
    assert job["status"] == "todo"


async def test_a_retry_waits_longer_each_time(rt, owner_conn):
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("test.backoff")
    await drain(rt)
    (job,) = await jobs_of(owner_conn, "test.backoff")
    first_wait = await owner_conn.fetchval(
        "SELECT extract(epoch FROM scheduled_at - now()) FROM procrastinate.procrastinate_jobs"
        " WHERE id = $1", job["id"])
    assert (job["status"], job["attempts"]) == ("todo", 1)
    assert 0 < first_wait <= 2  # 2 ** 1 seconds
    await owner_conn.execute(
        "UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now() WHERE id = $1", job["id"])
    await drain(rt)
    second_wait = await owner_conn.fetchval(
        "SELECT extract(epoch FROM scheduled_at - now()) FROM procrastinate.procrastinate_jobs"
        " WHERE id = $1", job["id"])
    assert 2 < second_wait <= 4  # 2 ** 2 seconds


async def test_two_workers_run_each_job_exactly_once(test_db, rt, owner_conn):
    n = 60
    async with rt.transaction(SERVICE) as tx:
        for i in range(n):
            tx.enqueue("test.record", n=i)
    other = make_runtime(test_db)
    try:
        await asyncio.wait_for(asyncio.gather(
            rt.jobs.run_worker(rt, wait=False, concurrency=3, name="one"),
            other.jobs.run_worker(other, wait=False, concurrency=3, name="two"),
        ), 60)
    finally:
        await other.stop()
    ids = [job_id for job_id, _ in RUNS]
    assert len(ids) == n and len(set(ids)) == n
    assert sorted(k for _, k in RUNS) == list(range(n))
    statuses = {j["status"] for j in await jobs_of(owner_conn, "test.record")}
    assert statuses == {"succeeded"}


async def test_stopping_a_worker_lets_the_running_job_finish(rt, owner_conn):
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("test.slow", seconds=0.5)
    worker = asyncio.create_task(rt.jobs.run_worker(rt, shutdown_timeout=10))
    for _ in range(500):
        if [j for j in await jobs_of(owner_conn, "test.slow") if j["status"] == "doing"]:
            break
        await asyncio.sleep(0.01)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    (job,) = await jobs_of(owner_conn, "test.slow")
    assert job["status"] == "succeeded"
    assert RUNS == [(job["id"], -1)]


async def test_a_job_of_a_dead_worker_is_put_back(rt, owner_conn):
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("test.record", n=7)
    # A worker took the job and vanished: its heartbeat is old and it never finished.
    worker_id = await owner_conn.fetchval(
        "INSERT INTO procrastinate.procrastinate_workers (last_heartbeat)"
        " VALUES (now() - interval '10 minutes') RETURNING id")
    await owner_conn.execute(
        "UPDATE procrastinate.procrastinate_jobs SET status = 'doing', worker_id = $1"
        " WHERE task_name = 'test.record'", worker_id)
    async with rt.transaction(SERVICE) as tx:
        # Two sweeps at once (and the worker's own periodic one) put the job back once.
        tx.enqueue("jobs.retry_stalled", timestamp=0)
        tx.enqueue("jobs.retry_stalled", timestamp=1)
    for _ in range(5):  # the job put back may come after the drained worker looked
        await drain(rt)
        (job,) = await jobs_of(owner_conn, "test.record")
        if job["status"] == "succeeded":
            break
    assert job["status"] == "succeeded"
    assert [n for _, n in RUNS] == [7]


# --- the commands ----------------------------------------------------------------------------


def test_focushub_jobs_lists_failed_jobs(test_db):
    async def fail_one() -> None:
        rt = make_runtime(test_db)
        try:
            async with rt.transaction(SERVICE) as tx:
                tx.enqueue("test.always_fails")
            for _ in range(5):
                await drain(rt)
                state = await maintenance.queue_state(rt)
                if state["failed"]:
                    break
        finally:
            await rt.stop()

    asyncio.run(fail_one())
    env = {**os.environ, "FOCUSHUB_DATABASE_URL": test_db.app_url, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "focushub", "jobs"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Failed jobs" in out.stdout
    assert "test.always_fails" in out.stdout
    assert "failed" in out.stdout

