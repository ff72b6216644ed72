"""Outgoing mail: queued in ``focushub_auth.mail_outbox`` inside the request's transaction,
delivered by the ``mail.send`` job (focushub/auth/tasks.py).

With ``FOCUSHUB_SMTP_URL`` set the job delivers over SMTP and a failure is
retried with backoff; the outbox row keeps the last error. Without SMTP the
message stays in the outbox and the job writes it to the log, so a developer
can follow a verification or reset link locally (``focushub outbox`` lists it);
in production only that it was not sent is logged, never the body (its token).
"""

from __future__ import annotations

import logging

from focushub.core.db import SERVICE
from focushub.core.errors import AppError
from focushub.core.runtime import Runtime
from focushub.integrations import smtp

log = logging.getLogger("focushub.mail")


class MailNotSent(AppError):
    status_code = 503
    code = "mail_not_sent"


async def deliver(rt: Runtime, outbox_id: int) -> bool:
    """Deliver outbox row ``outbox_id`` once (maintenance path: service_role).

    Idempotent: a sent row is skipped. The row is locked while it is sent, so two
    workers never send it twice; a crash between the SMTP answer and the commit
    sends it again (at least once). Returns whether it was sent now; raises
    :class:`MailNotSent` when SMTP failed (the job is then retried).
    """
    settings = rt.settings
    error: str | None = None
    async with rt.transaction(SERVICE) as tx:
        row = await tx.one_or_none(
            "SELECT id, to_email, subject, body, sent_at FROM focushub_auth.mail_outbox"
            " WHERE id = :id FOR UPDATE", id=outbox_id)
        if row is None or row["sent_at"] is not None:
            return False
        if not settings.smtp_url:
            if settings.env == "production":
                # A reset link is the account: in production the body stays in the
                # outbox (``focushub outbox``), out of logs that more people read.
                log.warning("mail %s to %s not sent: FOCUSHUB_SMTP_URL is not set",
                            outbox_id, row["to_email"])
            else:
                log.info("mail (no SMTP configured) to=%s subject=%r\n%s",
                         row["to_email"], row["subject"], row["body"])
            return False
        try:
            await smtp.send_mail(settings.smtp_url, mail_from=settings.mail_from,
                                 to=row["to_email"], subject=row["subject"], body=row["body"])
        except smtp.DeliveryError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            await tx.execute("UPDATE focushub_auth.mail_outbox SET last_error = :err WHERE id = :id",
                             err=error, id=outbox_id)
        else:
            await tx.execute(
                "UPDATE focushub_auth.mail_outbox SET sent_at = now(), last_error = NULL WHERE id = :id",
                id=outbox_id)
    if error is not None:
        log.warning("mail %s to %s not sent: %s", outbox_id, row["to_email"], error)
        raise MailNotSent(f"mail {outbox_id} not sent: {error}")
    return True


async def outbox(rt: Runtime, limit: int) -> list[dict]:
    """The latest queued mail, newest first (for ``focushub outbox``)."""
    async with rt.transaction(SERVICE) as tx:
        rows = await tx.all(
            "SELECT id, to_email, subject, body, created_at, sent_at, last_error"
            " FROM focushub_auth.mail_outbox ORDER BY id DESC LIMIT :n", n=limit)
    return [dict(r) for r in rows]
