"""The job queue's own upkeep, and what ``focushub jobs`` shows of it.

* ``jobs.retry_stalled`` (every minute): a job whose worker stopped sending
  heartbeats (killed, machine lost) is put back to ``todo`` so another worker runs
  it; tasks are idempotent, so running one again is safe.
* ``jobs.prune_finished`` (daily): succeeded and cancelled jobs older than
  ``FOCUSHUB_JOB_RETENTION_DAYS`` are deleted. Failed jobs are kept until someone
  retries or deletes them: they are the dead letters.
* ``limits.prune`` (hourly): rate-limit keys of PostgreSQL's limiter that have been
  idle long enough to be back at full allowance are deleted (Redis keys expire).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import procrastinate

from focushub.core.db import SERVICE
from focushub.core.jobs import TaskSet
from focushub.core.runtime import Runtime, runtime_of

log = logging.getLogger("focushub.jobs")

tasks = TaskSet()

# A worker sends a heartbeat every 10 s by default; three missed ones mean it is gone.
STALLED_AFTER_SECONDS = 30.0
# One sweep at a time (any key no other code takes): two sweeps reading the same stalled
# job would both put it back, the second while a live worker already runs it again.
_SWEEP_LOCK = 0x466F63757348


@tasks.task("jobs.retry_stalled", cron="* * * * *")
async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
    manager = context.app.job_manager
    # A transaction-scoped lock: a sweep whose process dies releases it with its connection.
    async with runtime_of(context).transaction(SERVICE) as tx:
        if not await tx.scalar("SELECT pg_try_advisory_xact_lock(:key)", key=_SWEEP_LOCK):
            return 0  # another sweep is running; the next tick looks again
        stalled = list(
            await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
        for job in stalled:
            log.warning("job %s (%s) lost its worker; retrying it", job.id, job.task_name)
            await manager.retry_job(job)
    return len(stalled)


@tasks.task("jobs.prune_finished", cron="41 3 * * *")
async def prune_finished(context: procrastinate.JobContext, timestamp: int) -> None:
    days = runtime_of(context).settings.job_retention_days
    await context.app.job_manager.delete_old_jobs(nb_hours=days * 24, include_cancelled=True)


@tasks.task("limits.prune", cron="17 * * * *")
async def prune_rate_limits(context: procrastinate.JobContext, timestamp: int) -> int:
    async with runtime_of(context).transaction(SERVICE) as tx:
        return int(await tx.scalar("SELECT public.rate_limits_prune()"))


_COUNTS = """
    SELECT task_name, status::text AS status, count(*) AS jobs
    FROM procrastinate.procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2
"""

_FAILED = """
    SELECT j.id, j.task_name, j.args, j.attempts,
           (SELECT max(e.at) FROM procrastinate.procrastinate_events e WHERE e.job_id = j.id) AS at
    FROM procrastinate.procrastinate_jobs j
    WHERE j.status = 'failed'
    ORDER BY j.id DESC LIMIT :limit
"""


async def queue_state(rt: Runtime, *, failed_limit: int = 20) -> dict[str, Any]:
    """Jobs per task and status, and the latest failed (dead) jobs."""
    async with rt.transaction(SERVICE) as tx:
        counts = [dict(r) for r in await tx.all(_COUNTS)]
        failed = [dict(r) for r in await tx.all(_FAILED, limit=failed_limit)]
    return {"counts": counts, "failed": failed}


class RetryRefused(Exception):
    """A failed job that cannot go back in the queue as it is; the message says why."""


_RETRYABLE = """
    SELECT j.status::text AS status, j.queueing_lock,
           (SELECT w.id FROM procrastinate.procrastinate_jobs w
            WHERE w.status = 'todo' AND w.queueing_lock = j.queueing_lock AND w.id <> j.id
            LIMIT 1) AS waiting
    FROM procrastinate.procrastinate_jobs j WHERE j.id = :id
"""


async def retry_failed(rt: Runtime, job_id: int) -> bool:
    """Put a failed job back in the queue; False when there is no failed job ``job_id``.
    Raises :class:`RetryRefused` when a job holding its queueing lock is queued already
    (the work was asked for again): the queue keeps one such job at a time."""
    async with rt.transaction(SERVICE) as tx:
        job = await tx.one_or_none(_RETRYABLE, id=job_id)
    if job is None or job["status"] != "failed":
        return False
    if job["waiting"] is not None:
        raise RetryRefused(_lock_taken(job_id, job["waiting"], job["queueing_lock"]))
    # The command that calls this runs no worker: the queue's connections open here.
    await rt.jobs.open()
    try:
        await rt.jobs.app.job_manager.retry_job_by_id_async(job_id=job_id,
                                                            retry_at=datetime.now(UTC))
    except procrastinate.exceptions.UniqueViolation:
        # Queued again by its lock's holder between the look above and the retry.
        raise RetryRefused(_lock_taken(job_id, None, job["queueing_lock"])) from None
    return True


def _lock_taken(job_id: int, waiting: int | None, lock: str) -> str:
    other = f"job {waiting}" if waiting is not None else "another job"
    return (f"Job {job_id} cannot be queued again: {other} with the same queueing lock "
            f"({lock}) is waiting to run")
