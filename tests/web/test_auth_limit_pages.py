"""The log-in and sign-up forms over their limits say when to try again, in words and in
``Retry-After``, with what was typed kept."""

from __future__ import annotations

import re

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
