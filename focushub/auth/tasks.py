"""Jobs of the auth domain."""

from __future__ import annotations

import procrastinate

from focushub.auth import mail
from focushub.core.jobs import TaskSet
from focushub.core.runtime import runtime_of

tasks = TaskSet()

# SMTP outages last minutes: the first run and 10 retries, waiting 2, 4, … 1,024 s in
# between (about 34 minutes in all), before the job is left failed; the outbox row keeps
# its last error.
MAIL_RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2,
                                         retry_exceptions={mail.MailNotSent})


@tasks.task("mail.send", retry=MAIL_RETRY)
async def send_mail(context: procrastinate.JobContext, outbox_id: int) -> None:
    await mail.deliver(runtime_of(context), outbox_id)
