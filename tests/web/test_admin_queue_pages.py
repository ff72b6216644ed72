"""The moderation queue's pages: the queue shown again after a refused action or setting
still pages on."""

from __future__ import annotations

import re

from tests.api.conftest import make_user
from tests.api.factories_content import make_post
from tests.web.test_pages import browser, csrf, login_as, make_admin, sign_up  # noqa: F401 (fixture)


async def _queue_more_link(html: str) -> str:
    match = re.search(r'<li class="more"><a href="(/admin/reports\?cursor=[^"]+)"', html)
    assert match, "the queue has a next page"
    return match.group(1).replace("&amp;", "&")


async def test_the_queue_shown_after_a_refusal_still_pages_on(browser, test_db):  # noqa: F811
    api = browser
    author, reporter = await make_user(api), await make_user(api)
    posts = [await make_post(api, author, title=f"Notes {n}") for n in range(22)]
    for post in posts:
        r = await api.post("/api/v1/reports", headers=reporter["headers"],
                           json={"target_type": "post", "target_id": post["id"], "reason": "spam"})
        assert r.status_code == 201, r.text
    await sign_up(browser, "mona")
    await make_admin(test_db, "mona")
    queue = await browser.get("/admin/reports")
    assert queue.status_code == 200
    token = csrf(queue.text)
    refusals = [
        # Hiding needs a reason: refused, the queue shown again (422).
        await browser.post(f"/admin/reports/post/{posts[0]['id']}",
                           data={"csrf_token": token, "action": "hide", "reason": ""}),
        # Not a number: refused, the queue shown again (422).
        await browser.post("/admin/reports/settings",
                           data={"csrf_token": token, "hide_threshold": "many"}),
    ]
    for refused in refusals:
        assert refused.status_code == 422, refused.text
        more = await browser.get(await _queue_more_link(refused.text))
        assert more.status_code == 200, more.text
    assert (await browser.get(await _queue_more_link(queue.text))).status_code == 200


async def test_the_admin_totals_count_people_by_role_in_words(browser, test_db):  # noqa: F811
    for name in ("ana", "ben", "cai"):
        await sign_up(browser, name)
    await make_admin(test_db, "cai")
    await login_as(browser, "cai")
    admin = await browser.get("/admin")
    assert "3 (1 admin, 2 students)" in admin.text
