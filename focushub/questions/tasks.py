"""Jobs of the Q&A domain."""

from __future__ import annotations

import procrastinate

from focushub.core.db import SERVICE
from focushub.core.jobs import TaskSet
from focushub.core.runtime import runtime_of

tasks = TaskSet()


@tasks.task("questions.prune_views", cron="7 * * * *")
async def prune_views(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete ``question_views`` rows of days before yesterday (UTC).

    A row only stops a viewer from being counted twice on its day
    (``record_question_view``), so older rows do nothing; yesterday's is kept for
    requests still in flight across midnight. Idempotent.
    """
    async with runtime_of(context).transaction(SERVICE) as tx:
        return await tx.scalar(
            "WITH gone AS (DELETE FROM public.question_views"
            "   WHERE day < (now() AT TIME ZONE 'UTC')::date - 1 RETURNING 1)"
            " SELECT count(*) FROM gone")
