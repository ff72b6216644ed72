"""The log-in and sign-up forms over their limits say when to try again, in words and in
``Retry-After``, with what was typed kept."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from focushub.app import create_app
from focushub.core.ratelimit import Rate
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET
from tests.web.test_pages import browser, csrf, sign_up  # noqa: F401


async def test_a_login_over_its_limit_says_when_to_try_again(browser):  # noqa: F811
    await sign_up(browser, "tia")
    browser.cookies.delete("fh_access")
    browser.cookies.delete("fh_refresh")
    token = csrf((await browser.get("/login")).text)
    for _ in range(30):
        r = await browser.post("/login", data={"csrf_token": token, "email": "tia@example.org",
                                               "password": "not the password"})
        if r.status_code == 429:
            break
    assert r.status_code == 429
    wait = int(r.headers["retry-after"])
    assert wait > 0
    said = re.search(r"Too many attempts; try again in ([\d,]+) (second|minute)s?\.", r.text)
    assert said, r.text
    assert int(said.group(1)) == (wait if said.group(2) == "second" else -(-wait // 60))
    assert 'value="tia@example.org"' in r.text


@pytest.fixture
async def slow_mail(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """The pages with one password-reset mail an hour per address."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, rate_mail=Rate(1, 3600))
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.runtime.stop()


async def test_the_error_page_of_a_limit_says_the_wait_as_people_say_it(slow_mail):
    """A second password-reset mail within the hour: the error page says the wait in words
    that match ``Retry-After`` (minutes, not thousands of seconds)."""
    token = csrf((await slow_mail.get("/password-reset")).text)
    for _ in range(20):
        r = await slow_mail.post("/password-reset", data={"csrf_token": token,
                                                        "email": "nobody@example.org"})
        if r.status_code == 429:
            break
    assert r.status_code == 429
    wait = int(r.headers["retry-after"])
    said = re.search(r"Try again in ([\d,]+) (second|minute)s?\.", r.text)
    assert said, r.text
    assert int(said.group(1)) == (wait if said.group(2) == "second" else -(-wait // 60))
    assert wait > 3000 and said.group(2) == "minute"
