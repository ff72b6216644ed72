"""Mail is delivered by the ``mail.send`` job: retried after an SMTP failure, sent once.

The SMTP server is aiosmtpd, a real one, on loopback.
"""

from __future__ import annotations

import asyncio
import socket

from aiosmtpd.controller import Controller

from focushub.core.db import SERVICE
from focushub.core.settings import Settings
from focushub.wiring import build_runtime
from tests.api.conftest import JWT_SECRET, make_user


class Inbox:
    """aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def mail_jobs(owner_conn) -> list[dict]:
    rows = await owner_conn.fetch(
        "SELECT id, status::text AS status, attempts, args FROM procrastinate.procrastinate_jobs"
        " WHERE task_name = 'mail.send' ORDER BY id")
    return [dict(r) for r in rows]


async def test_mail_is_retried_after_an_smtp_failure_and_sent_once(client, test_db, owner_conn):
    port = free_port()  # nothing listens here yet: the SMTP server is "down"
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        smtp_url=f"smtp://127.0.0.1:{port}")
    rt = build_runtime(settings)
    controller = None
    try:
        await make_user(client, email="mia@example.org")
        (job,) = await mail_jobs(owner_conn)  # queued by the sign-up's own transaction
        assert job["status"] == "todo"

        await rt.jobs.run_worker(rt, wait=False)
        (job,) = await mail_jobs(owner_conn)
        assert (job["status"], job["attempts"]) == ("todo", 1)  # failed once, retried later
        outbox = await owner_conn.fetchrow(
            "SELECT sent_at, last_error FROM focushub_auth.mail_outbox WHERE to_email = 'mia@example.org'")
        assert outbox["sent_at"] is None and "ConnectionRefusedError" in outbox["last_error"]

        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        await owner_conn.execute(  # the backoff has passed
            "UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now() WHERE id = $1",
            job["id"])
        await rt.jobs.run_worker(rt, wait=False)
        (job,) = await mail_jobs(owner_conn)
        assert (job["status"], job["attempts"]) == ("succeeded", 2)
        assert len(inbox.messages) == 1
        recipients, content = inbox.messages[0]
        assert recipients == ["mia@example.org"]
        assert "Subject: Confirm your Focus Hub email" in content
        outbox = await owner_conn.fetchrow(
            "SELECT id, sent_at, last_error FROM focushub_auth.mail_outbox WHERE to_email = 'mia@example.org'")
        assert outbox["sent_at"] is not None and outbox["last_error"] is None

        # A second job for the same mail (a retry after a crash, say) sends nothing.
        async with rt.transaction(SERVICE) as tx:
            tx.enqueue("mail.send", outbox_id=outbox["id"])
        await rt.jobs.run_worker(rt, wait=False)
        assert len(inbox.messages) == 1
    finally:
        if controller is not None:
            controller.stop()
        await rt.stop()


async def test_without_smtp_the_job_logs_the_mail_and_keeps_it_in_the_outbox(
        client, test_db, owner_conn, caplog):
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET)
    rt = build_runtime(settings)
    try:
        await make_user(client, email="noah@example.org")
        with caplog.at_level("INFO", logger="focushub.mail"):
            await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False), 60)
    finally:
        await rt.stop()
    (job,) = await mail_jobs(owner_conn)
    assert job["status"] == "succeeded"
    assert any("noah@example.org" in r.getMessage() and "verify-email?token=" in r.getMessage()
               for r in caplog.records)
    assert await owner_conn.fetchval(
        "SELECT sent_at FROM focushub_auth.mail_outbox WHERE to_email = 'noah@example.org'") is None


async def test_no_job_for_an_unknown_address(client, owner_conn):
    response = await client.post("/api/v1/auth/password-reset/request",
                                 json={"email": "nobody@example.org"})
    assert response.status_code == 202
    assert await mail_jobs(owner_conn) == []


class InboxThatFumblesQuit(Inbox):
    """Accepts the mail, then answers QUIT with an error, as a server shutting down may."""

    async def handle_QUIT(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        return "421 closing"


async def test_a_mail_the_server_accepted_is_sent_once_whatever_follows(client, test_db, owner_conn):
    port = free_port()
    inbox = InboxThatFumblesQuit()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        smtp_url=f"smtp://127.0.0.1:{port}")
    rt = build_runtime(settings)
    try:
        await make_user(client, email="olga@example.org")
        await rt.jobs.run_worker(rt, wait=False)
        assert len(inbox.messages) == 1
        (job,) = await mail_jobs(owner_conn)
        # Delivered once the server took it: not an error, and not to be sent again.
        await owner_conn.execute(
            "UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now() WHERE id = $1",
            job["id"])
        await rt.jobs.run_worker(rt, wait=False)
        assert len(inbox.messages) == 1
        (job,) = await mail_jobs(owner_conn)
        assert job["status"] == "succeeded"
        outbox = await owner_conn.fetchrow(
            "SELECT sent_at, last_error FROM focushub_auth.mail_outbox WHERE to_email = 'olga@example.org'")
        assert outbox["sent_at"] is not None and outbox["last_error"] is None
    finally:
        controller.stop()
        await rt.stop()


async def test_in_production_without_smtp_no_token_reaches_the_log(client, test_db, owner_conn, caplog):
    """A production server without SMTP says that it sent nothing, but does not write the
    mail (a reset link is the account) to a log that more people read than the database."""
    settings = Settings(env="production", database_url=test_db.app_url, jwt_secret=JWT_SECRET)
    rt = build_runtime(settings)
    try:
        await make_user(client, email="pia@example.org")
        await client.post("/api/v1/auth/password-reset/request", json={"email": "pia@example.org"})
        with caplog.at_level("INFO", logger="focushub.mail"):
            await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False), 60)
    finally:
        await rt.stop()
    bodies = [r["body"] for r in await owner_conn.fetch(
        "SELECT body FROM focushub_auth.mail_outbox WHERE to_email = 'pia@example.org' AND sent_at IS NULL")]
    assert len(bodies) == 2
    tokens = [body.split("?token=")[1].split()[0] for body in bodies]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "pia@example.org" in logged and "FOCUSHUB_SMTP_URL" in logged
    assert not any(token in logged for token in tokens)
