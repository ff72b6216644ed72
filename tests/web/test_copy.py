"""Copy buttons (``_copy.html``, ``app.js``): a post's, a question's and an answer's link, an
answer's text, in a real browser; and nothing to press where the page may not write to the
clipboard or runs no script."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import needs_chromium, sign_up

pytestmark = [pytest.mark.slow, needs_chromium]


async def test_copy_buttons_copy_the_address_and_the_text_as_shown(site, browser):
    context = await browser.new_context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_up(page, site, "ines")

    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Recursion, briefly")
    await page.get_by_label("Text (Markdown)").fill("A function that calls itself.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    post_url = page.url
    button = page.get_by_role("button", name="Copy link to this post")
    await button.click()
    await page.get_by_role("status").filter(has_text="Copied").wait_for(timeout=5000)
    assert await page.evaluate("navigator.clipboard.readText()") == post_url

    await page.goto(f"{site}/questions/ask")
    await page.get_by_label("Title").fill("What does a base case do?")
    await page.get_by_label("Details (Markdown)").fill("In recursion.")
    await page.get_by_role("button", name="Ask").click()
    await page.wait_for_url(re.compile(r".*/questions/[0-9a-f-]{36}$"))
    question_url = page.url
    await page.get_by_label("Your answer (Markdown)").fill("It **stops** the calls.\n\n- one\n- two")
    await page.get_by_role("button", name="Post your answer").click()
    await page.get_by_role("button", name="Copy this answer's text").wait_for()

    await page.get_by_role("button", name="Copy link to this question").click()
    await page.wait_for_function("document.querySelector('[role=status]').textContent === 'Copied'")
    assert await page.evaluate("navigator.clipboard.readText()") == question_url

    # The answer's text as the page shows it: Markdown rendered, not its source.
    await page.get_by_role("button", name="Copy this answer's text").click()
    await page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('stops'))")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert "**" not in copied and copied.startswith("It stops the calls.")
    assert "one" in copied and "two" in copied

    # The answer's link leads to the page holding it, at the answer.
    await page.get_by_role("button", name="Copy link to this answer").click()
    await page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('answer='))")
    answer_link = await page.evaluate("navigator.clipboard.readText()")
    assert answer_link.startswith(question_url + "?answer=") and "#answer-" in answer_link
    await page.goto(answer_link)
    anchor = answer_link.rsplit("#", 1)[1]
    assert "stops" in await page.locator(f"#{anchor} .prose").inner_text()
    assert not errors, errors
    await context.close()


async def test_without_script_there_is_no_copy_button_to_press(site, browser):
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await sign_up(page, site, "jon")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Stacks")
    await page.get_by_label("Text (Markdown)").fill("Last in, first out.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    # In the page, hidden: not shown and not offered to assistive technology.
    assert await page.locator("button.copy").count() == 1
    assert not await page.locator("button.copy").is_visible()
    assert await page.get_by_role("button", name="Copy link to this post").count() == 0
    await context.close()
