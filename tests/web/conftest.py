"""Fixtures of the real-browser tests: a live server on loopback and Debian's Chromium."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from focushub.app import create_app
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET
from tests.realtime.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="Chromium is not installed (apt-get install chromium)")


def _serve(settings: Settings) -> Iterator[str]:
    """The app with ``settings`` served by a real uvicorn on loopback until closed."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on",
                                           ws=settings.ws_protocol))
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


@pytest.fixture(scope="module")
def site(test_db, tmp_path_factory) -> Iterator[str]:
    """The app served by a real uvicorn on loopback, for one test module."""
    yield from _serve(Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                               data_dir=tmp_path_factory.mktemp("site")))


@pytest.fixture(scope="module")
def open_site(test_db, tmp_path_factory) -> Iterator[str]:
    """Like ``site`` with the write limits off: a test may write a long chat in one go."""
    yield from _serve(Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                               data_dir=tmp_path_factory.mktemp("open-site"),
                               write_limits_enabled=False))


@pytest.fixture(scope="module")
def limited_site(test_db, tmp_path_factory) -> Iterator[str]:
    """Like ``site`` with the write limits of new accounts on (the tests turn them off by
    default): pages that say a refusal can be reached."""
    yield from _serve(Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                               data_dir=tmp_path_factory.mktemp("limited-site"),
                               write_limits_enabled=True))


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


async def sign_up(page, site: str, name: str) -> None:
    """Sign ``name`` up through the form (email ``<name>@example.org``, password PASSWORD)."""
    await page.goto(f"{site}/signup")
    await page.get_by_label("Full name").fill(name.title())
    await page.get_by_label("Username").fill(name)
    await page.get_by_label("Email").fill(f"{name}@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(f"{site}/?welcome=1")


async def open_direct_chat(browser, site: str, first: str, second: str,
                           watch: Callable[[object], None] | None = None) -> tuple[object, object]:
    """``first`` and ``second`` signed up, each in a browser context of their own
    (``watch`` is given each page first, e.g. to collect console errors), ``second``
    following ``first`` (so the chat is no message request), and ``first`` on the page of
    their direct chat, opened from the chat list. Returns the two pages."""
    pages = []
    for name in (first, second):
        page = await (await browser.new_context()).new_page()
        if watch is not None:
            watch(page)
        await sign_up(page, site, name)
        pages.append(page)
    await follow(pages[1], site, first)
    await pages[0].goto(f"{site}/chat")
    await pages[0].get_by_label("Message someone").fill(second)
    await pages[0].get_by_role("button", name="Open chat").click()
    await pages[0].wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}$"))
    return pages[0], pages[1]


async def follow(page, site: str, name: str) -> None:
    """The page's user follows ``name`` from their profile (so that ``name``'s direct chats
    are chats to them, not message requests)."""
    await page.goto(f"{site}/u/{name}")
    await page.get_by_role("button", name="Follow").click()
    await page.get_by_role("button", name="Unfollow").wait_for()


async def log_in(page, site: str, name: str) -> None:
    await page.goto(f"{site}/login")
    await page.get_by_label("Email").fill(f"{name}@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{site}/")
