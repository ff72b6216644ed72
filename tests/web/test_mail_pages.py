"""The pages that start or finish what a mail carries: password reset and email verification."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from focushub.app import create_app
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET


@pytest.fixture
async def browser(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.runtime.stop()


def csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "every page carries its CSRF token"
    return match.group(1)


async def reset_mails(test_db, to: str) -> list[str]:
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        rows = await conn.fetch("SELECT body FROM focushub_auth.mail_outbox"
                                " WHERE to_email = $1 AND subject LIKE 'Reset%'", to)
    finally:
        await conn.close()
    return [r["body"] for r in rows]


async def test_the_reset_page_mails_the_account_its_address_names(browser, test_db):
    """The form's address is read as the API reads it: a domain in its ASCII form (browsers
    send an internationalized one so) or with blanks around it names the same account."""
    r = await browser.post("/api/v1/auth/signup", json={
        "email": "rosa@bücher.example", "password": "correct horse battery",
        "full_name": "Rosa", "username": "rosa"})
    assert r.status_code == 201, r.text
    browser.cookies.clear()
    for typed in ("rosa@xn--bcher-kva.example", " rosa@bücher.example "):
        page = await browser.get("/password-reset")
        r = await browser.post("/password-reset", data={"csrf_token": csrf(page.text),
                                                         "email": typed})
        assert r.status_code == 200 and "Check your email" in r.text
    assert len(await reset_mails(test_db, "rosa@bücher.example")) == 2
