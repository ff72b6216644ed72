"""The report form says a refusal for too many reports in words, in place (htmx swaps only
2xx answers: a 429 left the inline form doing nothing) and on its own page."""

from __future__ import annotations

import httpx

from focushub.app import create_app
from focushub.core.ratelimit import Rate
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET
from tests.web.test_pages import csrf, new_post, sign_up


async def test_too_many_reports_are_said_in_the_form(test_db, tmp_path):
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, write_limits_enabled=True,
                        write_rate_new_report=Rate(1, 10**7),
                        write_rate_new_post=Rate(10, 10**7))
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await sign_up(browser, "pia")
        posts = [(await new_post(browser, f"Notes {n}", "My notes")).rsplit("/", 1)[1]
                 for n in range(3)]
        browser.cookies.clear()
        await sign_up(browser, "quin")
        token = csrf((await browser.get("/")).text)

        def form(post_id: str) -> dict[str, str]:
            return {"csrf_token": token, "type": "post", "id": post_id, "reason": "other",
                    "details": "Copied from my essay", "back": "/"}

        r = await browser.post("/report", data=form(posts[0]))
        assert r.status_code == 303
        r = await browser.post("/report", data=form(posts[1]), headers={"HX-Request": "true"})
        assert r.status_code == 200, r.text
        assert "New accounts may send 1 reports per " in r.text
        assert "Copied from my essay" in r.text
        r = await browser.post("/report", data=form(posts[2]))
        assert r.status_code == 429
        assert "New accounts may send 1 reports per " in r.text
        assert "Copied from my essay" in r.text  # kept in the form
    await app.state.runtime.stop()
