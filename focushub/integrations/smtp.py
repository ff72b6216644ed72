"""Sending one mail over SMTP (``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import anyio

# What a failed delivery raises; a job retries on these.
DeliveryError = (OSError, smtplib.SMTPException)


def _send(smtp_url: str, mail_from: str, to: str, subject: str, body: str, timeout: float) -> None:
    parts = urlsplit(smtp_url)
    host = parts.hostname or "localhost"
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=timeout)
    else:
        client = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
    try:
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
    except BaseException:
        client.close()
        raise
    # The server has taken the mail: nothing said after this (an error answering QUIT, the
    # connection dropped) undoes that, and reporting it as a failure would have the mail
    # sent again.
    try:
        client.quit()
    except DeliveryError:
        pass
    finally:
        client.close()


async def send_mail(smtp_url: str, *, mail_from: str, to: str, subject: str, body: str,
                    timeout: float = 15.0) -> None:
    """Deliver one plain-text mail; raises one of :data:`DeliveryError` when it was not."""
    await anyio.to_thread.run_sync(_send, smtp_url, mail_from, to, subject, body, timeout)
