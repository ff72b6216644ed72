"""Jobs of AI answers."""

from __future__ import annotations

from uuid import UUID

import procrastinate

from focushub.ai import service
from focushub.core.jobs import TaskSet
from focushub.core.runtime import runtime_of

tasks = TaskSet()

# The first run and two retries, 5 and 25 s apart: a provider outage of about half a
# minute is ridden out; after that the answer is failed, and asking again retries it.
# Every failure is retried (service.generate counts each as an attempt), or an answer
# whose job failed otherwise would stay pending.
MAX_RETRIES = 2
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_RETRIES, exponential_wait=5)


@tasks.task("ai.generate_answer", retry=RETRY)
async def generate_answer(context: procrastinate.JobContext, ai_answer_id: str) -> None:
    await service.generate(runtime_of(context), UUID(ai_answer_id),
                           last_attempt=context.job.attempts >= MAX_RETRIES)
