"""Starting a chat from the chat page: a refusal is said there, with the name kept."""

from __future__ import annotations

from tests.web.test_pages import browser, csrf, sign_up  # noqa: F401


async def test_a_chat_with_oneself_is_said_on_the_chat_page(browser):  # noqa: F811
    await sign_up(browser, "yan")
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post("/chat", data={"csrf_token": token, "username": "@yan"})
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]
    assert "@yan is you: a chat needs someone else" in r.text
    assert "<h1>Chat</h1>" in r.text and 'value="yan"' in r.text
