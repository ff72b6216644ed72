"""Accessibility of the main pages, checked by axe-core in Chromium, plus keyboard use.

axe-core (vendored, test-only: ``tests/web/vendor/axe-core/fetch.sh``) runs the WCAG 2.1 A and
AA rules on every main page, signed in as an admin and signed out, in the light and the dark
colour scheme, at desktop and 360 px phone width. Any violation fails the test with its rule,
impact and the nodes concerned; so does a page wider than the window (reflow, which axe does not
check). No rule is switched off.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest

from tests.api.files_support import pdf_with_text, png
from tests.web.conftest import PASSWORD, log_in, needs_chromium, sign_up

pytestmark = [pytest.mark.slow, needs_chromium]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe-4.14.1.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCHEMES = ("light", "dark")
WIDTHS = (1280, 360)
# The innermost elements that reach past the window's right edge, outside any box that
# scrolls sideways by itself (an absolutely positioned one may escape such a box: it counts);
# [] when the page fits.
OVERFLOWING = """() => {
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= limit) return [];
  const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; }
    return false; };
  return [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > limit + 0.5
                 && (!scrolls(e) || getComputedStyle(e).position === 'absolute'))
    .filter((e, _, all) => !all.some(o => o !== e && e.contains(o)))
    .slice(0, 5)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
         (e.className ? '.' + String(e.className).split(' ').join('.') : '') +
         ` (right edge ${Math.round(e.getBoundingClientRect().right)} px)`);
}"""


async def _content(site: str, browser, test_db, tmp_path) -> tuple[dict, list[str], list[str]]:
    """Fill the site through its forms: two people, a post with code and a comment, a
    question with an answer, a resource, a chat (with an image and a file, read by the other
    person, muted), a follow (a notification), a muted person, a message request and a group
    invitation from a stranger, an admin, a report and an account with a spam signal (the
    moderation queue page shows both).
    Returns the admin's storage state, the signed-in paths and the signed-out paths."""
    context = await browser.new_context()
    page = await context.new_page()
    await sign_up(page, site, "bea")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Notes on loops")
    await page.get_by_label("Text (Markdown)").fill(
        "**Loops** repeat, see [the docs](https://docs.python.org/).\n\n"
        "```python\n# count to three\nfor i in range(3):\n    print('loop', i)\n```\n\n"
        "> A quote, `inline code` and a list:\n\n- one\n- two")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    post = page.url.removeprefix(site)
    await page.get_by_label("Your comment (Markdown)").fill("A comment with *emphasis*.")
    await page.get_by_role("button", name="Comment").click()
    await page.wait_for_url(re.compile(r".*#comment-[0-9a-f-]{36}$"))
    thread = f"{post}/comments/{page.url.rsplit('comment-', 1)[1]}"  # its replies' own page
    await page.goto(f"{site}/questions/ask")
    await page.get_by_label("Title").fill("How do loops end?")
    await page.get_by_label("Details (Markdown)").fill("When does `while` stop?")
    await page.get_by_role("button", name="Ask").click()
    await page.wait_for_url(re.compile(r".*/questions/[0-9a-f-]{36}$"))
    question = page.url.removeprefix(site)
    upload = tmp_path / "loops.pdf"
    upload.write_bytes(pdf_with_text("Loops repeat until their condition is false"))
    await page.goto(f"{site}/resources/new")
    await page.get_by_label("File (PDF").set_input_files(str(upload))
    await page.get_by_label("Title").fill("Loop cheat sheet")
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url(re.compile(r".*/resources/[0-9a-f-]{36}$"))
    resource = page.url.removeprefix(site)

    other = await browser.new_context()
    cal = await other.new_page()
    await sign_up(cal, site, "cal")
    await cal.goto(f"{site}{question}")
    await cal.get_by_label("Your answer (Markdown)").fill("When its condition is false.")
    await cal.get_by_role("button", name="Post your answer").click()
    await cal.wait_for_load_state()
    await cal.goto(f"{site}/u/bea")
    await cal.get_by_role("button", name="Follow").click()
    await cal.get_by_role("button", name="Unfollow").wait_for()
    await cal.goto(f"{site}{post}")
    # One comment five times: a spam signal, so the queue page lists cal among the accounts.
    for _ in range(5):
        await cal.get_by_label("Your comment (Markdown)").fill("Same thing again")
        async with cal.expect_navigation():
            await cal.get_by_role("button", name="Comment", exact=True).click()
    await cal.get_by_role("link", name="Report this post").click()
    await cal.get_by_role("radio", name="Something else").check()
    await cal.get_by_label("What is wrong?").fill("Off-topic for this group")
    await cal.get_by_role("button", name="Send report").click()
    await cal.get_by_text("Thank you. Your report was sent").wait_for()
    await other.close()

    await page.goto(f"{site}/chat")
    await page.get_by_label("Message someone").fill("cal")
    await page.get_by_role("button", name="Open chat").click()
    await page.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    room = page.url.removeprefix(site)
    await page.get_by_label("Message").fill("Study at five?")
    await page.get_by_role("button", name="Send").click()
    await page.locator(".message .text", has_text="Study at five?").wait_for()
    # An image (shown, its name as the alternative text) and a file (a download link).
    picture = tmp_path / "board.png"
    picture.write_bytes(png((120, 80)))
    notes = tmp_path / "notes.txt"
    notes.write_text("Loops: for, while.\n")
    for upload in (picture, notes):
        await page.get_by_label("Attach a file or an image").set_input_files(str(upload))
        async with page.expect_navigation():
            await page.get_by_role("button", name="Share the file").click()
    await page.get_by_role("img", name="board.png").wait_for()
    # cal opens the room, so bea's page says "Seen" (and shows cal among its people).
    other = await browser.new_context()
    cal = await other.new_page()
    await log_in(cal, site, "cal")
    await cal.goto(f"{site}{room}")
    await cal.get_by_role("link", name="notes.txt").wait_for()
    await other.close()
    await page.reload()
    await page.locator(".message .seen", has_text="Seen").wait_for()
    # Muted: the room (the chat list shows it so) and cal (the profile's controls and the list
    # of /settings/blocks show it).
    await page.get_by_role("button", name="Mute room").click()
    await page.get_by_role("button", name="Unmute room").wait_for()
    await page.goto(f"{site}/u/cal")
    await page.get_by_role("button", name="Mute", exact=True).click()
    await page.get_by_role("button", name="Unmute", exact=True).wait_for()

    # dan, whom bea does not follow: a message request to her and an invitation to his group
    # (the chat page lists both; the request's own page has Accept and Decline).
    other = await browser.new_context()
    dan = await other.new_page()
    await sign_up(dan, site, "dan")
    await dan.goto(f"{site}/chat")
    await dan.get_by_label("Message someone").fill("bea")
    await dan.get_by_role("button", name="Open chat").click()
    await dan.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    request_room = dan.url.removeprefix(site)
    await dan.get_by_label("Message").fill("Can I join your study group?")
    await dan.get_by_role("button", name="Send").click()
    await dan.locator(".message .text", has_text="Can I join").wait_for()
    await dan.goto(f"{site}/chat")
    await dan.get_by_label("New group").fill("Reading club")
    await dan.get_by_role("button", name="Create").click()
    await dan.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    await dan.get_by_label("Add someone (username)").fill("bea")
    await dan.get_by_role("button", name="Add", exact=True).click()
    await dan.get_by_text("@bea is invited").wait_for()
    await other.close()
    # A group of bea's with dan invited (he does not follow her) and cal in it (cal does):
    # the page of a group's admin, with the form that adds people and the note it leaves.
    await page.goto(f"{site}/chat")
    await page.get_by_label("New group").fill("Study group")
    await page.get_by_role("button", name="Create").click()
    await page.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    for name, note in (("cal", "@cal is in the chat now"), ("dan", "@dan is invited")):
        await page.get_by_label("Add someone (username)").fill(name)
        await page.get_by_role("button", name="Add", exact=True).click()
        await page.get_by_text(note).wait_for()
    group_room = page.url.removeprefix(site)

    # eve, whom bea follows, is deactivated: bea's following list (with Unfollow) still lists
    # her, since administrators see deactivated profiles.
    other = await browser.new_context()
    eve = await other.new_page()
    await sign_up(eve, site, "eve")
    await other.close()
    await page.goto(f"{site}/u/eve")
    await page.get_by_role("button", name="Follow").click()
    await page.get_by_role("button", name="Unfollow").wait_for()

    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE users SET is_active = false WHERE username = 'eve'")
        await conn.execute("UPDATE users SET role = 'admin' WHERE username = 'bea'")
    finally:
        await conn.close()
    await log_in(page, site, "bea")  # a new token carries the admin role
    await page.goto(f"{site}/admin/reports")  # its section of flagged accounts is not empty
    await page.locator("#signals .signal-item", has_text="@cal").wait_for(timeout=5000)
    state = await context.storage_state()
    await context.close()

    shared = ["/", post, thread, "/questions", question, "/search?q=loops", "/u/bea",
              "/u/bea/followers", "/resources", resource]
    signed_in = [*shared, "/resources?mine=true", f"{resource}/edit", f"{post}/edit",
                 f"{question}/edit", "/questions/ask",
                 "/notifications",
                 "/settings/profile", "/chat", room,
                 f"{room}?before=3", request_room, group_room,
                 "/posts/new", "/resources/new", "/admin", "/admin/reports",
                 f"/report?type=post&id={post.rsplit('/', 1)[1]}&back={post}",
                 "/settings/reports", "/settings/account", "/settings/privacy",
                 "/settings/notifications",
                 "/settings/blocks", "/u/cal", "/u/bea/following"]
    signed_out = [*shared, "/login", "/signup", "/password-reset"]
    return state, signed_in, signed_out


def _describe(path: str, scheme: str, width: int, violations: list[dict]) -> str:
    lines = [f"{path} ({scheme}, {width} px):"]
    for v in violations:
        lines.append(f"  {v['id']} [{v['impact']}] {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(map(str, node['target']))}: "
                         f"{(node.get('failureSummary') or '').splitlines()[-1:]}")
    return "\n".join(lines)


async def _axe(page) -> dict:
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    return await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})", WCAG_TAGS)


async def test_main_pages_have_no_wcag_violations(site, browser, test_db, tmp_path):
    # The check itself finds faults: a page with a nameless image and grey on white.
    context = await browser.new_context()
    page = await context.new_page()
    await page.set_content('<html><body><main><img src="x.png"><p class="c">faint</p></main>'
                           '<style>.c { color: #bbb; background: #fff }</style></body></html>')
    found = {v["id"] for v in (await _axe(page))["violations"]}
    assert {"image-alt", "color-contrast", "html-has-lang"} <= found, found
    await context.close()

    state, signed_in, signed_out = await _content(site, browser, test_db, tmp_path)
    failures: list[str] = []
    checked = 0
    for storage, paths in ((state, signed_in), (None, signed_out)):
        # bypass_csp only so that add_script_tag may inject axe (an inline script the
        # page's CSP refuses); the pages carry no inline script or style of their own,
        # so what axe sees is what a visitor's browser renders under the policy.
        context = await browser.new_context(storage_state=storage, bypass_csp=True,
                                            viewport={"width": WIDTHS[0], "height": 800})
        page = await context.new_page()
        for path in paths:
            response = await page.goto(f"{site}{path}")
            assert response.status == 200, path
            await page.wait_for_load_state("networkidle")
            # Each theme and width on the loaded page: the media queries apply at once, so
            # one load serves the four checks.
            for scheme in SCHEMES:
                await page.emulate_media(color_scheme=scheme)
                for width in WIDTHS:
                    await page.set_viewport_size({"width": width, "height": 800})
                    result = await _axe(page)
                    checked += 1
                    if result["violations"]:
                        failures.append(_describe(path, scheme, width, result["violations"]))
                    # Reflow (WCAG 1.4.10): at phone width nothing makes the page scroll
                    # sideways (wide tables and code scroll inside their own box).
                    wide = await page.evaluate(OVERFLOWING)
                    if wide:
                        failures.append(f"{path} ({scheme}, {width} px): wider than the window:"
                                        f" {', '.join(wide)}")
        await context.close()
    assert checked == 2 * 2 * (len(signed_in) + len(signed_out))
    assert not failures, "accessibility faults:\n" + "\n".join(failures)


async def test_the_login_form_works_from_the_keyboard_with_a_visible_focus(site, browser):
    context = await browser.new_context()
    page = await context.new_page()
    await sign_up(page, site, "dee")
    await context.clear_cookies()
    await page.goto(f"{site}/login?next=/questions")
    # Tab from the top of the page: the skip link first, shown when focused.
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert await skip.evaluate("e => e === document.activeElement")
    box = await skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0  # on screen, not parked off it
    outline = await skip.evaluate(
        "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }")
    assert outline[0] != "none" and outline[1] not in ("0px", "")

    # Tab on until the email field, counting the stops on the way (the header's links).
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "email":
            break
    assert await page.evaluate("document.activeElement.id") == "email"
    await page.keyboard.type("dee@example.org")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "password"
    await page.keyboard.type("correct horse battery")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{site}/questions")

    # A focused button and a focused link show an outline (the theme's focus colour).
    for locator in (page.get_by_role("button", name="Log out"),
                    page.get_by_role("link", name="Questions", exact=True)):
        await locator.focus()
        await page.keyboard.press("Shift+Tab")
        await page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
        style = await locator.evaluate(
            "e => { const s = getComputedStyle(e);"
            " return {el: e === document.activeElement, style: s.outlineStyle,"
            " width: parseFloat(s.outlineWidth)}; }")
        assert style["el"] and style["style"] == "solid" and style["width"] >= 2, style
    await context.close()


async def test_long_unbroken_titles_fit_a_phone_screen(site, browser):
    """A title of one long word (a formula, a URL, a name in another script) wraps inside its
    card instead of widening the page at 360 px."""
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    context = await browser.new_context(viewport={"width": 360, "height": 800})
    page = await context.new_page()
    await sign_up(page, site, "lex")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill(f"Post {word}")
    await page.get_by_label("Text (Markdown)").fill("Short text.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    await page.goto(f"{site}/questions/ask")
    await page.get_by_label("Title").fill(f"Question {word}")
    await page.get_by_label("Details (Markdown)").fill("Short text.")
    await page.get_by_role("button", name="Ask").click()
    await page.wait_for_url(re.compile(r".*/questions/[0-9a-f-]{36}$"))
    await page.goto(f"{site}/chat")
    await page.get_by_label("New group").fill(f"Group {word}")
    await page.get_by_role("button", name="Create").click()
    await page.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    for path in ("/", "/questions", "/chat", "/u/lex", f"/search?q={word}&type=question"):
        await page.goto(f"{site}{path}")
        assert await page.get_by_text(word).count(), path
        assert await page.evaluate(OVERFLOWING) == [], path
    await context.close()


async def test_the_page_of_a_refused_comment_has_no_wcag_violations(limited_site, browser):
    """A comment over a new account's hourly allowance (20) is given back on a page of its
    own (draft.html), checked like the main pages."""
    site = limited_site
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    await sign_up(page, site, "mia")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Who studies tonight?")
    await page.get_by_label("Text (Markdown)").fill("Tell me.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    post = page.url
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    for n in range(20):
        sent = await page.request.post(f"{post}/comments", max_redirects=0,
                                       form={"csrf_token": token, "content": f"Note {n}"})
        assert sent.status == 303
    await page.get_by_label("Your comment (Markdown)").fill("One more thought, kept")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Comment", exact=True).click()
    await page.get_by_role("heading", name="Your comment was not posted").wait_for()
    assert await page.get_by_label("Your comment (Markdown)").input_value() == \
        "One more thought, kept"
    failures = await _faults_of_shown_page(page, "draft")
    assert not failures, "\n".join(failures)
    await context.close()


async def _faults_of_shown_page(page, name: str) -> list[str]:
    """axe's violations and any sideways overflow of the page as shown (the answer to a
    form post, which cannot be loaded again by its address), in each scheme and width."""
    failures = []
    for scheme in SCHEMES:
        await page.emulate_media(color_scheme=scheme)
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 800})
            result = await _axe(page)
            if result["violations"]:
                failures.append(_describe(name, scheme, width, result["violations"]))
            if wide := await page.evaluate(OVERFLOWING):
                failures.append(f"{name} ({scheme}, {width} px): wider than the window: {wide}")
    return failures


async def test_a_form_sent_signed_out_is_sent_again_after_logging_in(site, browser):
    """Logged out in another tab while writing: the post's form answers with the login
    page carrying the text, and logging in offers to send it (both pages checked like the
    main pages)."""
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    await sign_up(page, site, "ria")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Half an hour of notes")
    await page.get_by_label("Text (Markdown)").fill("First line\nsecond line")
    other = await context.new_page()
    await other.goto(f"{site}/")
    await other.get_by_role("button", name="Log out").click()
    await other.wait_for_url(f"{site}/")
    await page.get_by_role("button", name="Publish").click()
    await page.get_by_text("You were signed out before this was sent").wait_for()
    failures = await _faults_of_shown_page(page, "login, carrying a form")
    await page.get_by_label("Email").fill("ria@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="Send it again?").wait_for()
    assert await page.get_by_text("Half an hour of notes").count() == 1
    failures += await _faults_of_shown_page(page, "resend")
    assert not failures, "\n".join(failures)
    await page.get_by_role("button", name="Send it").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    assert await page.get_by_role("heading", name="Half an hour of notes").count() == 1
    assert "second line" in await page.locator(".prose").first.inner_text()
    await context.close()
