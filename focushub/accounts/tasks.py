"""Jobs of account exports: building one, and deleting expired ones."""

from __future__ import annotations

import logging
from uuid import UUID

import procrastinate

from focushub.accounts import service
from focushub.core.jobs import TaskSet
from focushub.core.runtime import runtime_of

log = logging.getLogger("focushub.accounts")

tasks = TaskSet()

# The first run and two retries, 4 and 8 s later; after that the export is failed and
# its owner told (asking again starts a new one).
MAX_RETRIES = 2
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_RETRIES, exponential_wait=2)


@tasks.task("accounts.export", retry=RETRY)
async def export(context: procrastinate.JobContext, export_id: str) -> None:
    rt = runtime_of(context)
    try:
        await service.build_export(rt, UUID(export_id))
    except Exception:
        if context.job.attempts < MAX_RETRIES:
            raise
        log.exception("accounts: export %s failed", export_id)
        # The owner sees this; what went wrong is in the log.
        await service.fail_export(rt, UUID(export_id), "The export could not be made")


@tasks.task("accounts.expire_exports", cron="11 * * * *")
async def expire_exports(context: procrastinate.JobContext, timestamp: int | None = None) -> int:
    """Hourly: exports past ``FOCUSHUB_EXPORT_EXPIRY_HOURS`` go, with their objects."""
    return await service.expire_exports(runtime_of(context))
