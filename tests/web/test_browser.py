"""The web app in a real browser: Playwright driving Debian's Chromium against a live server.

Skipped, with the reason, where ``/usr/bin/chromium`` is missing (``.ci/run`` installs it).
Screenshots of the pages visited, at phone and desktop width, go to
``test-screenshots/`` (not committed) for review.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import uvicorn

from focushub.app import create_app
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET
from tests.api.files_support import pdf_with_text
from tests.conftest import ROOT
from tests.realtime.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def site(test_db, tmp_path_factory) -> Iterator[str]:
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path_factory.mktemp("site"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the site did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield chromium
        finally:
            await chromium.close()


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
        body = await conn.fetchval("SELECT body FROM auth.mail_outbox WHERE to_email ="
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
    pages = []
    for name in ("gina", "hugo"):
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{site}/signup")
        await page.get_by_label("Full name").fill(name.title())
        await page.get_by_label("Username").fill(name)
        await page.get_by_label("Email").fill(f"{name}@example.org")
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Sign up").click()
        await page.wait_for_url(f"{site}/?welcome=1")
        pages.append(page)
    gina, hugo = pages
    await gina.goto(f"{site}/chat")
    await gina.get_by_label("Message someone").fill("hugo")
    await gina.get_by_role("button", name="Open chat").click()
    await gina.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
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
