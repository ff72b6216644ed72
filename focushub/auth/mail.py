"""Outgoing mail: queued in ``auth.mail_outbox`` inside the request's transaction.

After the transaction commits, queued mail is delivered over SMTP when
``FOCUSHUB_SMTP_URL`` is set (``smtp://user:pass@host:port`` or ``smtps://…``).
Without SMTP the message stays in the outbox and is written to the log, so a
developer can follow a verification or reset link locally
(``focushub outbox`` lists it too).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.db import SERVICE, transaction
from focushub.core.settings import Settings

log = logging.getLogger("focushub.mail")


def _send_smtp(smtp_url: str, mail_from: str, to: str, subject: str, body: str) -> None:
    parts = urlsplit(smtp_url)
    host = parts.hostname or "localhost"
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=15)
    else:
        client = smtplib.SMTP(host, parts.port or 25, timeout=15)
    with client:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        message = EmailMessage()
        message["From"] = mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        client.send_message(message)


async def deliver_pending(engine: AsyncEngine, settings: Settings) -> int:
    """Send unsent outbox rows over SMTP (maintenance path, runs as service_role)."""
    if not settings.smtp_url:
        return 0
    sent = 0
    async with transaction(engine, SERVICE) as tx:
        rows = await tx.all(
            "SELECT id, to_email, subject, body FROM auth.mail_outbox"
            " WHERE sent_at IS NULL ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED"
        )
        for row in rows:
            try:
                await anyio.to_thread.run_sync(
                    _send_smtp, settings.smtp_url, settings.mail_from,
                    row["to_email"], row["subject"], row["body"],
                )
            except (OSError, smtplib.SMTPException) as exc:
                await tx.execute(
                    "UPDATE auth.mail_outbox SET last_error = :err WHERE id = :id",
                    err=str(exc)[:500], id=row["id"],
                )
                log.warning("mail to %s failed: %s", row["to_email"], exc)
                continue
            await tx.execute("UPDATE auth.mail_outbox SET sent_at = now() WHERE id = :id", id=row["id"])
            sent += 1
    return sent


def log_message(to: str, subject: str, body: str) -> None:
    log.info("mail (no SMTP configured) to=%s subject=%r\n%s", to, subject, body)
