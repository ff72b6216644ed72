"""The web app in a real browser: Playwright driving Debian's Chromium against a live server.

Skipped, with the reason, where ``/usr/bin/chromium`` is missing (``.ci/run`` installs it).
Screenshots of the pages visited, at phone and desktop width, go to
``test-screenshots/`` (not committed) for review.
"""

from __future__ import annotations

import re

import asyncpg
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.api.files_support import pdf_with_text
from tests.conftest import ROOT
from tests.web.conftest import follow, needs_chromium, open_direct_chat, sign_up

SHOTS = ROOT / "test-screenshots"

pytestmark = [pytest.mark.slow, needs_chromium]


async def shoot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for label, width in (("phone", 360), ("desktop", 1280)):
        await page.set_viewport_size({"width": width, "height": 800})
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_a_student_signs_up_verifies_posts_asks_and_shares_a_file(site, browser, test_db,
                                                                         tmp_path):
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await page.goto(f"{site}/signup")
    await page.get_by_label("Full name").fill("Dana Lee")
    await page.get_by_label("Username").fill("dana")
    await page.get_by_label("Email").fill("dana@example.org")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(f"{site}/?welcome=1")
    await shoot(page, "feed")

    # The verification link from the mail outbox works in the browser.
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        body = await conn.fetchval("SELECT body FROM focushub_auth.mail_outbox WHERE to_email ="
                                   " 'dana@example.org' ORDER BY id DESC LIMIT 1")
    finally:
        await conn.close()
    link = re.search(r"http://\S+/verify-email\?token=(\S+)", body)
    assert link, body
    await page.goto(f"{site}/verify-email?token={link.group(1)}")
    await page.get_by_role("heading", name="Email confirmed").wait_for()

    # A post with Markdown and a script that stays inert.
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Notes on loops")
    await page.get_by_label("Text (Markdown)").fill(
        "**Loops** repeat.\n\n<script>document.title='pwned'</script>\n\n<img src=x onerror=alert(1)>")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    assert await page.locator(".prose strong").inner_text() == "Loops"
    assert await page.title() != "pwned"
    assert await page.locator(".prose img").count() == 0
    await shoot(page, "post")

    # Asking: a similar question is suggested while typing the title.
    await page.goto(f"{site}/questions/ask")
    await page.get_by_label("Title").fill("How do loops work?")
    await page.get_by_label("Details (Markdown)").fill("For and while.")
    await page.get_by_role("button", name="Ask").click()
    await page.wait_for_url(re.compile(r".*/questions/[0-9a-f-]{36}$"))
    await page.goto(f"{site}/questions/ask")
    await page.get_by_label("Title").press_sequentially("loops work", delay=30)
    await page.get_by_role("link", name="How do loops work?").wait_for(timeout=5000)
    await shoot(page, "ask")

    # Sharing a file, then downloading it.
    upload = tmp_path / "thermo.pdf"
    upload.write_bytes(pdf_with_text("Entropy always increases"))
    await page.goto(f"{site}/resources/new")
    await page.get_by_label("File (PDF").set_input_files(str(upload))
    await page.get_by_label("Title").fill("Thermodynamics notes")
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url(re.compile(r".*/resources/[0-9a-f-]{36}$"))
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name=re.compile("Download thermo.pdf")).click()
    download = await download_info.value
    saved = tmp_path / "downloaded.pdf"
    await download.save_as(saved)
    assert saved.read_bytes() == upload.read_bytes()
    await shoot(page, "resource")

    assert errors == []  # no script errors, no CSP violations
    await context.close()


async def test_two_people_chat_live(site, browser):
    gina, hugo = await open_direct_chat(browser, site, "gina", "hugo")
    room_url = gina.url
    await hugo.goto(room_url)
    for page in (gina, hugo):
        await page.locator("#chat-status", has_text="Live").wait_for(timeout=10000)

    await gina.get_by_label("Message").fill("Hi Hugo, <b>study</b> at 5?")
    await gina.get_by_role("button", name="Send").click()
    await hugo.locator(".message .text", has_text="Hi Hugo, <b>study</b> at 5?").wait_for(timeout=10000)
    assert await hugo.locator(".message b").count() == 0  # shown as text, never as markup
    await hugo.get_by_label("Message").fill("Yes!")
    await hugo.get_by_role("button", name="Send").click()
    await gina.locator(".message .text", has_text="Yes!").wait_for(timeout=10000)
    await shoot(gina, "chat")
    # Hugo's chat list shows the room.
    await hugo.goto(f"{site}/chat")
    await hugo.get_by_role("link", name="@gina").wait_for()


async def _texts(page) -> list[str]:
    return await page.locator("#messages .message .text").all_inner_texts()


async def test_a_chat_page_that_loses_its_connection_shows_what_it_missed_once_in_order(
        site, browser):
    ola_context = await browser.new_context()
    ola = await ola_context.new_page()
    errors: list[str] = []
    ola.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_up(ola, site, "ola")
    pim = await (await browser.new_context()).new_page()
    await sign_up(pim, site, "pim")
    await follow(pim, site, "ola")
    await ola.goto(f"{site}/chat")
    await ola.get_by_label("Message someone").fill("pim")
    await ola.get_by_role("button", name="Open chat").click()
    await ola.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    await pim.goto(ola.url)
    for page in (ola, pim):
        await page.locator("#chat-status", has_text="Live").wait_for(timeout=10000)

    async def say(text: str) -> None:
        await pim.get_by_label("Message").fill(text)
        await pim.get_by_role("button", name="Send").click()
        await pim.locator(".message .text", has_text=text).wait_for(timeout=10000)  # stored

    await say("one")
    await ola.locator(".message .text", has_text="one").wait_for(timeout=10000)

    # Ola's network goes away: her socket drops and she cannot reconnect meanwhile.
    await ola_context.set_offline(True)
    await ola.locator("#chat-status", has_text="Reconnecting").wait_for(timeout=10000)
    for text in ("two", "three", "four"):
        await say(text)
    assert await _texts(ola) == ["one"]

    await ola_context.set_offline(False)
    await ola.locator("#chat-status", has_text="Live").wait_for(timeout=15000)
    await ola.locator(".message .text", has_text="four").wait_for(timeout=10000)
    await say("five")  # and live delivery goes on after the catch-up
    await ola.locator(".message .text", has_text="five").wait_for(timeout=10000)
    assert await _texts(ola) == ["one", "two", "three", "four", "five"]
    seqs = [int(i.removeprefix("m-")) for i in
            await ola.locator("#messages .message").evaluate_all("els => els.map(e => e.id)")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    # What Ola saw live is what a reload shows.
    live = await _texts(ola)
    await ola.reload()
    assert await _texts(ola) == live
    assert [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e] == []


async def test_a_report_sent_inline_is_resolved_by_an_admin_in_the_queue(site, browser, test_db):
    from tests.web.conftest import log_in

    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_up(page, site, "wes")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Free exam answers")
    await page.get_by_label("Text (Markdown)").fill("Send me money for the answers.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    post_url = page.url
    await expect_no_report_link(page)
    await context.clear_cookies()

    await sign_up(page, site, "xia")
    await page.goto(post_url)
    # htmx brings the form in place of the link: the page does not change.
    await page.get_by_role("link", name="Report this post").click()
    await page.get_by_role("group", name="Why are you reporting this post?").wait_for()
    assert page.url == post_url
    await page.get_by_role("radio", name="Something else").check()
    await page.get_by_role("button", name="Send report").click()
    # "Something else" without words: said inline, and the form stays.
    await page.get_by_text("say what is wrong in the details").wait_for()
    await page.get_by_label("What is wrong?").fill("Selling exam answers")
    await page.get_by_role("button", name="Send report").click()
    await page.get_by_text("Thank you. Your report was sent").wait_for()
    assert page.url == post_url
    await shoot(page, "report-sent")
    await page.goto(f"{site}/settings/reports")
    await page.get_by_text("waiting for review").wait_for()

    await context.clear_cookies()
    await sign_up(page, site, "yan")
    await conn_admin(test_db, "yan")
    await log_in(page, site, "yan")
    await page.goto(f"{site}/admin")
    await page.get_by_role("link", name="Reports waiting for review").click()
    await page.wait_for_url(f"{site}/admin/reports")
    item = page.locator(".queue-item").first
    await item.get_by_text("Selling exam answers").wait_for()
    assert "xia" not in await item.inner_text()  # never who reported
    await shoot(page, "report-queue")
    await item.get_by_label("Reason, shown to the author").fill("Selling answers is not allowed")
    await item.get_by_role("button", name="Hide").click()
    await page.get_by_text("Done: hide, 1 report(s) resolved.").wait_for()
    await page.get_by_text("Nothing is waiting for review.").wait_for()
    assert not errors, errors
    await context.clear_cookies()
    response = await page.goto(post_url)
    assert response.status == 404  # hidden: only its author and admins see it now
    await log_in(page, site, "xia")
    await page.goto(f"{site}/settings/reports")
    await page.get_by_text("reviewed: action was taken").wait_for()
    await context.close()


async def expect_no_report_link(page) -> None:
    assert await page.get_by_role("link", name="Report this post").count() == 0


async def conn_admin(test_db, name: str) -> None:
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE username = $1", name)
    finally:
        await conn.close()


async def test_blocking_and_muting_someone_from_their_profile(site, browser):
    gia_context = await browser.new_context()
    gia = await gia_context.new_page()
    await sign_up(gia, site, "gia")
    hal_context = await browser.new_context()
    hal = await hal_context.new_page()
    errors: list[str] = []
    hal.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_up(hal, site, "hal")

    # Muting happens in place (htmx): same page, the button says what it would undo.
    await hal.goto(f"{site}/u/gia")
    await hal.get_by_role("button", name="Mute", exact=True).click()
    await hal.get_by_role("button", name="Unmute", exact=True).wait_for()
    await hal.get_by_text("Muted @gia.").wait_for()
    assert hal.url == f"{site}/u/gia"
    await shoot(hal, "profile-muted")
    # Blocking leaves the profile (it is hidden both ways now) for the list of blocks.
    await hal.get_by_role("button", name="Block", exact=True).click()
    await hal.wait_for_url(f"{site}/settings/blocks?blocked=gia")
    await hal.get_by_text("You blocked @gia. They are not told.").wait_for()
    await shoot(hal, "blocks")
    response = await gia.goto(f"{site}/u/hal")
    assert response.status == 404
    assert not errors, errors
    response = await hal.goto(f"{site}/u/gia")
    assert response.status == 404
    errors.clear()  # the browser logs the 404 it was meant to get

    await hal.goto(f"{site}/settings/blocks")
    await hal.get_by_role("button", name="Unmute @gia").click()
    await hal.get_by_text("Unmuted @gia.").wait_for()
    await hal.get_by_text("You have not muted anyone.").wait_for()
    await hal.get_by_role("button", name="Unblock @gia").click()
    await hal.get_by_text("Unblocked @gia.").wait_for()
    await hal.get_by_text("You have not blocked anyone.").wait_for()
    assert hal.url == f"{site}/settings/blocks"
    response = await gia.goto(f"{site}/u/hal")
    assert response.status == 200
    await hal.goto(f"{site}/u/gia")
    await hal.get_by_role("button", name="Mute", exact=True).wait_for()
    assert not errors, errors
    await gia_context.close()
    await hal_context.close()


async def test_chat_read_receipts_presence_and_earlier_messages_live(open_site, browser):
    from playwright.async_api import expect

    site = open_site
    errors: list[str] = []
    ivy, jon = await open_direct_chat(
        browser, site, "ivy", "jon",
        watch=lambda page: page.on(
            "console", lambda m: errors.append(m.text) if m.type == "error" else None))
    room_url = ivy.url
    # A long chat, sent through the page's form: more than one page of messages.
    token = await ivy.locator('meta[name="csrf-token"]').get_attribute("content")
    for n in range(1, 56):
        sent = await ivy.context.request.post(room_url, form={"csrf_token": token,
                                                              "content": f"line {n}"},
                                              max_redirects=0)
        assert sent.status == 303

    # Opening the room reads it, so Ivy's page shows "Seen" under her latest message.
    await jon.goto(room_url)
    await ivy.goto(room_url)
    await ivy.locator("#m-55 .seen", has_text="Seen").wait_for()
    # The page opens at its latest 50 messages (6 to 55): the earlier ones wait until
    # scrolled to.
    assert await ivy.locator("#m-5").count() == 0 and await ivy.locator("#m-6").count() == 1
    for page in (ivy, jon):
        await page.locator("#chat-status", has_text="Live").wait_for(timeout=10000)
    # Each sees the other online, in words, from the presence frames.
    await jon.locator('#people li[data-username="ivy"] .presence',
                      has_text="online").wait_for(timeout=10000)
    await ivy.locator('#people li[data-username="jon"] .presence',
                      has_text="online").wait_for(timeout=10000)

    # A new message moves "Seen" to it once Jon's open page has read it (live: Ivy's page
    # is not reloaded, and the message did not exist when it was loaded).
    await ivy.get_by_label("Message").fill("Did you get the notes?")
    await ivy.get_by_role("button", name="Send").click()
    await jon.locator(".message .text", has_text="Did you get the notes?").wait_for(timeout=10000)
    await ivy.locator("#m-56 .seen", has_text="Seen").wait_for(timeout=10000)
    assert await ivy.locator(".message .seen").count() == 1

    # Earlier messages: scrolled to the top, the page loads them above, in order, and what
    # was on screen stays where it was.
    await ivy.locator("#older a", has_text="Load earlier messages").wait_for()
    assert await ivy.locator("#m-5").count() == 0
    top_before = await ivy.evaluate(
        "() => { window.scrollTo(0, 0); return document.getElementById('m-6').getBoundingClientRect().top; }")
    await ivy.locator("#m-1").wait_for(timeout=10000)
    await ivy.get_by_text("This is the beginning of the chat.").wait_for()
    top_after = await ivy.evaluate("document.getElementById('m-6').getBoundingClientRect().top")
    assert abs(top_after - top_before) < 2, (top_before, top_after)
    seqs = [int(i.removeprefix("m-")) for i in
            await ivy.locator("#messages .message").evaluate_all("els => els.map(e => e.id)")]
    assert seqs == list(range(1, 57))
    assert ivy.url == room_url  # in place
    await shoot(ivy, "chat-room")  # (a full-page shot shows every message)

    # Jon leaves: Ivy's page no longer shows him online.
    await jon.context.close()
    await expect(ivy.locator('#people li[data-username="jon"] .presence')).to_have_text(
        "", timeout=10000)
    await expect(ivy.locator('#people li[data-username="ivy"] .presence')).to_have_text("online")
    assert errors == [], errors
    await ivy.context.close()


async def test_back_after_logging_out_does_not_show_the_signed_in_page(site, browser):
    context = await browser.new_context()
    page = await context.new_page()
    await sign_up(page, site, "backy")
    await page.goto(f"{site}/settings/profile")
    await page.get_by_role("heading", name="Your profile").wait_for()
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(f"{site}/")
    await page.get_by_role("link", name="Log in").first.wait_for()
    await page.go_back()
    # Fetched again, not restored: the signed-out visitor is sent to the login page.
    await page.wait_for_url(re.compile(r".*/login\?next=%2Fsettings%2Fprofile$"))
    assert await page.get_by_role("button", name="Log out").count() == 0
    await context.close()


async def test_a_refused_chat_message_keeps_its_text_and_says_why(site, browser):
    """A message the server refuses over the WebSocket (here: the other person blocked the
    sender) stays in the box, and the server's reason is announced (role=alert)."""
    ivo, jade = await open_direct_chat(browser, site, "ivo", "jade")
    await ivo.locator("#chat-status", has_text="Live").wait_for(timeout=10000)
    box = ivo.get_by_label("Message", exact=True)
    await box.fill("First one")
    await ivo.get_by_role("button", name="Send").click()
    await ivo.locator(".message .text", has_text="First one").wait_for(timeout=10000)
    # Acknowledged, the box is cleared. The room's event can arrive before the
    # acknowledgement, so the message may show while its text is still in the box.
    from playwright.async_api import expect
    await expect(box).to_have_value("", timeout=10000)
    assert await ivo.locator("#send-error").is_hidden()

    await jade.goto(f"{site}/u/ivo")
    await jade.get_by_role("button", name="Block", exact=True).click()
    await jade.wait_for_url(f"{site}/settings/blocks?blocked=ivo")
    await box.fill("Are you there?")
    await ivo.get_by_role("button", name="Send").click()
    alert = ivo.get_by_role("alert")
    await alert.wait_for(timeout=10000)
    assert (await alert.inner_text()).strip()
    assert await box.input_value() == "Are you there?"  # not lost
    assert await ivo.locator(".message .text", has_text="Are you there?").count() == 0


async def test_more_comments_and_more_replies_load_in_place(open_site, browser):
    site = open_site
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_up(page, site, "rhea")
    await page.goto(f"{site}/posts/new")
    await page.get_by_label("Title").fill("Many voices")
    await page.get_by_label("Text (Markdown)").fill("Say something.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(re.compile(r".*/posts/[0-9a-f-]{36}$"))
    post_url = page.url
    csrf = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    ids = []
    for n in range(21):
        r = await page.request.post(f"{post_url}/comments", max_redirects=0,
                                    form={"csrf_token": csrf, "content": f"Comment number {n}"})
        ids.append(r.headers["location"].rsplit("comment-", 1)[1])
    for n in range(4):
        await page.request.post(f"{post_url}/comments", max_redirects=0, form={
            "csrf_token": csrf, "content": f"Reply number {n}", "parent_id": ids[0]})
    await page.goto(post_url)
    replies = page.locator(f"#replies-{ids[0]} > li.comment")
    assert await replies.count() == 3
    await page.get_by_role("link", name="1 more reply").click()
    await replies.filter(has_text="Reply number 3").wait_for(timeout=10000)
    assert await replies.count() == 4 and page.url == post_url  # in place
    comments = page.locator("#comment-list > li.comment")
    assert await comments.count() == 20
    await page.get_by_role("link", name="Show more comments").click()
    await comments.filter(has_text="Comment number 20").wait_for(timeout=10000)
    assert await comments.count() == 21 and page.url == post_url
    assert await page.get_by_role("link", name="Show more comments").count() == 0
    assert not errors, errors
    await context.close()


async def test_a_message_sent_live_can_be_deleted_and_goes_for_both(site, browser):
    """The script's own rendering of a message sent over the socket has the page's Delete
    form; deleting it shows "(message deleted)" to the other person live."""
    ines, jorge = await open_direct_chat(browser, site, "ines", "jorge")
    await jorge.goto(ines.url)
    for page in (ines, jorge):
        await page.locator("#chat-status", has_text="Live").wait_for(timeout=10000)
    await ines.get_by_label("Message").fill("Oops, wrong chat")
    await ines.get_by_role("button", name="Send").click()
    sent = ines.locator(".message.mine", has_text="Oops, wrong chat")
    await sent.wait_for(timeout=10000)
    await jorge.locator(".message .text", has_text="Oops, wrong chat").wait_for(timeout=10000)
    assert await jorge.get_by_role("button", name="Delete this message").count() == 0
    async with ines.expect_navigation():
        await sent.get_by_role("button", name="Delete this message").click()
    await ines.locator(".message.mine .text", has_text="(message deleted)").wait_for()
    await jorge.locator(".message .text", has_text="(message deleted)").wait_for(timeout=10000)
    assert await jorge.get_by_text("Oops, wrong chat").count() == 0


@pytest.fixture(scope="module")
def small_upload_site(test_db, tmp_path_factory):
    """The site with uploads limited to 64 KiB."""
    from focushub.core.settings import Settings
    from tests.api.conftest import JWT_SECRET
    from tests.web.conftest import _serve

    yield from _serve(Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                               data_dir=tmp_path_factory.mktemp("small-upload-site"),
                               max_upload_bytes=64 * 1024))


async def test_a_file_over_the_limit_is_refused_by_its_field_before_uploading(
        small_upload_site, browser, tmp_path):
    site = small_upload_site
    context = await browser.new_context()
    page = await context.new_page()
    await sign_up(page, site, "kofi")
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    big.write_bytes(b"x" * (100 * 1024))
    small.write_bytes(b"short notes")
    await page.goto(f"{site}/resources/new")
    field = page.get_by_label("File (PDF")
    assert await field.get_attribute("data-max-bytes") == str(64 * 1024)
    await field.set_input_files(str(big))
    message = await field.evaluate("e => e.validationMessage")
    assert message == "This file is 100 KB; files are limited to 64 KB."
    assert await page.get_by_text("up to 64 KB").count() == 1
    await page.get_by_label("Title").fill("Too big")
    await page.get_by_role("button", name="Upload").click()
    assert page.url == f"{site}/resources/new"  # the browser did not send it
    await field.set_input_files(str(small))
    assert await field.evaluate("e => e.validationMessage") == ""
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url(re.compile(r".*/resources/[0-9a-f-]{36}$"))
    # The avatar and chat attachment fields carry the same limit.
    await page.goto(f"{site}/settings/profile")
    assert await page.locator("#avatar").get_attribute("data-max-bytes") == str(64 * 1024)
    await context.close()


async def test_enter_sends_a_chat_message_and_shift_enter_starts_a_new_line(site, browser):
    from playwright.async_api import expect

    lena, milo = await open_direct_chat(browser, site, "lena", "milo")
    room_url = lena.url
    await lena.locator("#chat-status", has_text="Live").wait_for(timeout=10000)
    box = lena.get_by_label("Message", exact=True)
    # The script says what Enter does, and the box names that help.
    await lena.get_by_text("Enter sends; Shift+Enter starts a new line.").wait_for()
    assert await box.get_attribute("aria-describedby") == "send-error chat-text-keys"
    await box.press_sequentially("First line")
    await box.press("Shift+Enter")
    await box.press_sequentially("second line")
    assert await box.input_value() == "First line\nsecond line"
    await box.press("Enter")
    sent = lena.locator(".message.mine .text", has_text="second line")
    await sent.wait_for(timeout=10000)
    assert await sent.evaluate("e => e.textContent") == "First line\nsecond line"
    await expect(box).to_have_value("", timeout=10000)

    # Enter that ends an input method's composition picks characters: it sends nothing.
    await box.fill("かな")
    press = """(box, composing) => {
        let sent = false;
        box.form.addEventListener("submit", () => { sent = true; }, {once: true});
        const event = new KeyboardEvent("keydown", {key: "Enter", isComposing: composing,
                                                    bubbles: true, cancelable: true});
        box.dispatchEvent(event);
        return [event.defaultPrevented, sent];
    }"""
    assert await box.evaluate(press, True) == [False, False]
    assert await box.input_value() == "かな"
    assert await box.evaluate(press, False) == [True, True]  # the same Enter, composed
    await lena.locator(".message.mine .text", has_text="かな").wait_for(timeout=10000)

    # Without JavaScript: Enter is a new line as ever, the button sends, no help is shown.
    state = await milo.context.storage_state()
    context = await browser.new_context(java_script_enabled=False, storage_state=state)
    plain = await context.new_page()
    await plain.goto(room_url)
    assert await plain.locator("#chat-text-keys").is_hidden()
    box = plain.get_by_label("Message", exact=True)
    await box.press_sequentially("Plain one")
    await box.press("Enter")
    await box.press_sequentially("plain two")
    assert await box.input_value() == "Plain one\nplain two"
    await plain.get_by_role("button", name="Send").click()
    await plain.wait_for_url(f"{room_url}#end")
    await plain.locator(".message .text", has_text="plain two").wait_for()
    await context.close()


async def test_an_htmx_control_that_fails_says_why_next_to_it(site, browser):
    """Mute (in place with htmx) refused, here because the form's CSRF cookie is gone: htmx
    puts nothing in place of a 4xx, so the error page's words are said beside the button;
    once it works again the note goes."""
    page = await (await browser.new_context()).new_page()
    await sign_up(page, site, "quin")
    page = await (await browser.new_context()).new_page()
    await sign_up(page, site, "rosa")
    await page.goto(f"{site}/u/quin")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "fh_csrf")
    await page.context.clear_cookies(name="fh_csrf")
    await page.get_by_role("button", name="Mute").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "Not allowed" in await alert.inner_text()
    assert "The form has expired" in await alert.inner_text()
    assert await page.get_by_role("heading", name="Log in").count() == 0
    await page.context.add_cookies([cookie])  # the page's token works again
    await page.get_by_role("button", name="Mute").click()
    await page.get_by_role("button", name="Unmute").wait_for()
    assert await page.get_by_role("alert").count() == 0


async def focus_on(page, locator) -> bool:
    """Whether the keyboard's focus lands on ``locator``'s element within 5 s: htmx moves
    it once it has settled what it put in place, a moment after that appears."""
    element = await locator.element_handle()
    try:
        await page.wait_for_function("e => e === document.activeElement", arg=element,
                                     timeout=5000)
    except PlaywrightTimeout:
        return False
    return True


async def focus_on_text(page, text: str) -> bool:
    """:func:`focus_on` the focused element whose text is ``text``."""
    try:
        await page.wait_for_function(
            "t => document.activeElement && document.activeElement.textContent.trim() === t",
            arg=text, timeout=5000)
    except PlaywrightTimeout:
        return False
    return True


async def test_keyboard_focus_stays_on_what_htmx_puts_in_place(site, browser):
    """From the keyboard: Mute turned into Unmute keeps the focus, the report form put in
    place of its link takes it, and so does what it says once sent; never back to the top of
    the page."""
    page = await (await browser.new_context()).new_page()
    await sign_up(page, site, "sol")
    page = await (await browser.new_context()).new_page()
    await sign_up(page, site, "tom")
    await page.goto(f"{site}/u/sol")
    focused = "document.activeElement.textContent.trim()"
    await page.get_by_role("button", name="Mute", exact=True).focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Unmute").wait_for()
    assert await focus_on_text(page, "Unmute")
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Mute", exact=True).wait_for()
    assert await focus_on_text(page, "Mute")

    await page.get_by_role("link", name="Report this user").focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("radio", name="Spam or advertising").wait_for()
    assert await focus_on(page, page.get_by_role("radio", name="Spam or advertising"))
    await page.keyboard.press("Space")  # choose it, then on to the button
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate(focused) == "Send report":
            break
    await page.keyboard.press("Enter")
    sent = page.get_by_role("status").filter(has_text="Your report was sent")
    await sent.wait_for()
    assert await focus_on(page, sent)

    await page.get_by_role("button", name="Mute", exact=True).click()
    await page.get_by_role("button", name="Unmute").wait_for()
    await page.goto(f"{site}/settings/blocks")
    await page.get_by_role("button", name="Unmute @sol").focus()
    await page.keyboard.press("Enter")
    done = page.get_by_role("status").filter(has_text="Unmuted @sol")
    await done.wait_for()
    assert await focus_on(page, done)


async def test_load_more_from_the_keyboard_goes_on_at_the_first_new_item(site, browser):
    """The feed's "Load more" pressed from the keyboard: the link goes with the items it
    brings, and the focus goes to the first of them, not back to the top of the page."""
    page = await (await browser.new_context()).new_page()
    await sign_up(page, site, "uri")
    await page.goto(f"{site}/posts/new")
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    for n in range(25):
        sent = await page.request.post(f"{site}/posts/new", max_redirects=0, form={
            "csrf_token": token, "title": f"Note {n:02d}", "content": "Short."})
        assert sent.status == 303
    await page.goto(f"{site}/")
    shown = await page.locator("#feed-items > li.card").count()
    await page.get_by_role("link", name="Load more").focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("link", name="Note 00").wait_for()
    first_new = page.locator("#feed-items > li.card").nth(shown).locator("a").first
    assert await focus_on(page, first_new)


async def test_a_background_request_that_fails_puts_no_alert_in_the_header(site, browser):
    """The header's unread badge polls in the background: when that fails (here the
    server answers 500) nothing is said in the header; what a person presses is."""
    page = await (await browser.new_context()).new_page()
    await sign_up(page, site, "vic")

    async def broken(route):
        await route.fulfill(status=500, body="<main><h1>Broken</h1><p>No.</p></main>",
                            content_type="text/html")

    await page.route("**/notifications/badge", broken)
    async with page.expect_response("**/notifications/badge"):
        await page.goto(f"{site}/questions")
    await page.wait_for_function("!document.querySelector('.htmx-request')")
    await page.evaluate("new Promise(requestAnimationFrame)")  # htmx has handled the answer
    assert await page.locator("header .request-failed").count() == 0
