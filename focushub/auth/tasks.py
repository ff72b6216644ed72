"""Jobs of the auth domain."""

from __future__ import annotations

import procrastinate

from focushub.auth import mail
from focushub.core.jobs import runtime_of

blueprint = procrastinate.Blueprint()

# SMTP outages last minutes: 10 attempts, waiting 2, 4, … 512 s in between (about
# 17 minutes in all) before the job is left failed; the outbox row keeps its last error.
MAIL_RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2,
                                         retry_exceptions={mail.MailNotSent})


@blueprint.task(name="mail.send", pass_context=True, retry=MAIL_RETRY)
async def send_mail(context: procrastinate.JobContext, outbox_id: int) -> None:
    await mail.deliver(runtime_of(context), outbox_id)
