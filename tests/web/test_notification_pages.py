"""The notifications page: marking read what the reader was shown."""

from __future__ import annotations

import re

from tests.api.conftest import make_user
from tests.web.test_pages import browser, csrf  # noqa: F401  (browser: the fixture)


def mark_all_form(html: str) -> dict[str, str]:
    form = re.search(r'<form method="post" action="/notifications/read">(.*?)</form>', html, re.S)
    assert form, "the page offers to mark all read"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1)))


async def test_mark_all_read_leaves_what_arrived_after_the_page_was_shown(browser):  # noqa: F811
    dora = await make_user(browser, email="dora@example.org", username="dora")
    eli, fay = await make_user(browser), await make_user(browser)
    follow = "/api/v1/users/{}/follow".format(dora["user"]["id"])
    assert (await browser.put(follow, headers=eli["headers"])).status_code == 200
    login = await browser.get("/login")
    r = await browser.post("/login", data={"csrf_token": csrf(login.text),
                                           "email": "dora@example.org",
                                           "password": dora["password"]})
    assert r.status_code == 303
    notes = await browser.get("/notifications")
    assert eli["user"]["username"] in notes.text

    # While dora reads, fay follows her too: the notification she sees is joined by one
    # more action ("2 people ..."), which is not on the page dora is looking at.
    assert (await browser.put(follow, headers=fay["headers"])).status_code == 200
    r = await browser.post("/notifications/read", data=mark_all_form(notes.text))
    assert r.status_code == 303
    badge = await browser.get("/notifications/badge")
    assert 'aria-label="1 unread notification"' in badge.text
    notes = await browser.get("/notifications")
    assert '2 people started following you</a> <span class="badge">new' in notes.text


async def test_mark_all_read_is_offered_only_while_something_shown_is_unread(browser):  # noqa: F811
    gil = await make_user(browser, email="gil@example.org", username="gil")
    hal = await make_user(browser)
    login = await browser.get("/login")
    await browser.post("/login", data={"csrf_token": csrf(login.text),
                                       "email": "gil@example.org", "password": gil["password"]})
    notes = await browser.get("/notifications")
    assert "No notifications." in notes.text and "Mark all as read" not in notes.text
    follow = "/api/v1/users/{}/follow".format(gil["user"]["id"])
    assert (await browser.put(follow, headers=hal["headers"])).status_code == 200
    notes = await browser.get("/notifications")
    assert "Mark all as read" in notes.text
    await browser.post("/notifications/read", data=mark_all_form(notes.text))
    notes = await browser.get("/notifications")
    assert "started following you" in notes.text and "Mark all as read" not in notes.text
