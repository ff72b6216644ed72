"""Words longer than a phone's line (a 50-character username, a pasted URL, a title without
spaces) break inside it instead of widening the page.

``tests/web/test_a11y.py`` checks reflow with the boxes of ordinary content; text that runs
out of its box leaves the box's own edge in place, so this measures the page itself.
"""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import follow, needs_chromium, sign_up

pytestmark = [pytest.mark.slow, needs_chromium]

NAME = "n" * 50  # the longest username
WORD = "https://example.org/" + "w" * 200


async def test_long_words_stay_within_a_phone_wide_page(site, browser):
    context = await browser.new_context(viewport={"width": 360, "height": 800})
    page = await context.new_page()
    await sign_up(page, site, NAME)
    await page.goto(f"{site}/settings/profile")
    await page.get_by_label("Name").fill("M" * 120)
    await page.get_by_label("About you").fill(WORD)
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url(re.compile(r".*saved=1$"))
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("T" * 200)
    await page.get_by_label("Text (Markdown)").fill(WORD)
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    post = page.url
    await page.get_by_label("Your comment (Markdown)").fill(WORD)
    await page.get_by_role("button", name="Comment").click()
    await page.wait_for_url(re.compile(r".*#comment-.*"))
    await page.goto(f"{site}/questions/ask")
    await page.get_by_label("Title").fill("Q" * 200)
    await page.get_by_label("Details (Markdown)").fill(WORD)
    await page.get_by_role("button", name="Ask").click()
    await page.wait_for_url(re.compile(r".*/questions/[0-9a-f-]{36}$"))
    question = page.url
    reader = await (await browser.new_context(viewport={"width": 360, "height": 800})).new_page()
    await sign_up(reader, site, "reader")
    await follow(reader, site, NAME)
    await reader.goto(f"{site}/chat")
    await reader.get_by_label("Message someone").fill(NAME)
    await reader.get_by_role("button", name="Open chat").click()
    await reader.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    room = reader.url
    for path in (post, question, room, f"{site}/u/{NAME}", f"{site}/u/reader/following",
                 f"{site}/questions", f"{site}/?tab=latest", f"{site}/search?q=TTTT",
                 f"{site}/search?q={NAME}&type=user"):
        await reader.goto(path)
        widths = await reader.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], (path, widths)
    await context.close()
