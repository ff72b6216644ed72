"""Voting from the pages without htmx: the page comes back where the vote was."""

from __future__ import annotations

import re

from tests.web.test_pages import browser, csrf, sign_up  # noqa: F401


async def test_a_vote_on_a_post_or_question_comes_back_to_the_vote_not_the_top(browser):  # noqa: F811
    await sign_up(browser, "ivo")
    token = csrf((await browser.get("/posts/new")).text)
    post = (await browser.post("/posts/new", data={"csrf_token": token, "title": "Long",
                                                   "content": "Paragraph.\n\n" * 200})
            ).headers["location"]
    question = (await browser.post("/questions/ask", data={
        "csrf_token": token, "title": "Why is the sky blue?", "content": "Scattering?"})
    ).headers["location"]
    browser.cookies.clear()
    await sign_up(browser, "jay")
    for url in (post, question):
        page = await browser.get(url)
        item = url.rsplit("/", 1)[1]
        form = re.search(rf'<form method="post" action="(/vote/\w+/{item})" class="vote" '
                         rf'id="vote-{item}">(.*?)</form>', page.text, re.S)
        assert form, url
        fields = dict(re.findall(r'name="(csrf_token|back)" value="([^"]*)"', form.group(2)))
        assert fields["back"] == f"{url}#vote-{item}"
        r = await browser.post(form.group(1), data={**fields, "vote_type": "upvote"})
        assert r.status_code == 303 and r.headers["location"] == f"{url}#vote-{item}"
