"""The web app's pages through HTTP: sessions in cookies, CSRF, sanitized Markdown, errors.

(Real-browser tests with Playwright are the next step; these drive the same pages as a
browser without JavaScript would.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from focushub.app import create_app
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET


@pytest.fixture
async def browser(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.runtime.stop()


def csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "every page carries its CSRF token"
    return match.group(1)


async def sign_up(browser: httpx.AsyncClient, name: str) -> None:
    page = await browser.get("/signup")
    r = await browser.post("/signup", data={
        "csrf_token": csrf(page.text), "email": f"{name}@example.org", "full_name": name.title(),
        "username": name, "password": "correct horse battery"})
    assert r.status_code == 303, r.text
    assert {"fh_access", "fh_refresh"} <= set(browser.cookies.keys())


async def test_pages_are_html_with_a_strict_policy(browser):
    r = await browser.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text  # no inline script anywhere
    for path in ("/questions", "/resources", "/login", "/signup"):
        assert (await browser.get(path)).status_code == 200, path
    static = await browser.get("/static/vendor/htmx-2.0.11.min.js")
    assert static.status_code == 200


async def test_signup_login_logout_and_csrf(browser):
    await sign_up(browser, "amira")
    home = await browser.get("/")
    assert "Log out" in home.text
    # A form without the page's token is refused, whatever the cookies say.
    r = await browser.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    r = await browser.post("/logout", data={"csrf_token": csrf(home.text)})
    assert r.status_code == 303
    assert "Log in" in (await browser.get("/")).text
    # The refresh token was revoked: it cannot bring the session back.
    page = await browser.get("/login")
    r = await browser.post("/login", data={"csrf_token": csrf(page.text),
                                           "email": "amira@example.org", "password": "wrong one!"})
    assert r.status_code == 401 and "Wrong email or password" in r.text
    r = await browser.post("/login", data={"csrf_token": csrf(page.text), "next": "/questions",
                                           "email": "amira@example.org",
                                           "password": "correct horse battery"})
    assert r.status_code == 303 and r.headers["location"] == "/questions"


async def test_markdown_is_rendered_and_script_stays_inert(browser):
    await sign_up(browser, "bruno")
    page = await browser.get("/posts/new")
    r = await browser.post("/posts/new", data={
        "csrf_token": csrf(page.text), "title": "Loops",
        "content": "**Bold** and [a link](https://example.org) and [bad](javascript:alert(1))\n\n"
                   "<script>alert('x')</script>\n\n```python\nfor i in range(3):\n    pass\n```"})
    assert r.status_code == 303
    post = await browser.get(r.headers["location"])
    assert "<strong>Bold</strong>" in post.text
    assert 'rel="nofollow ugc noopener"' in post.text
    assert "<script>alert" not in post.text and "&lt;script&gt;" in post.text
    assert 'href="javascript:' not in post.text  # left as inert text, never a link
    assert '<span class="k">for</span>' in post.text  # highlighted, by class names only


async def test_asking_answering_and_the_ai_answer_on_the_question_page(browser):
    await sign_up(browser, "chen")
    page = await browser.get("/questions/ask")
    similar = await browser.get("/questions/similar", params={"title": "photosynthesis"})
    assert similar.status_code == 200
    r = await browser.post("/questions/ask", data={
        "csrf_token": csrf(page.text), "title": "How does photosynthesis work?",
        "content": "Plants and sunlight?"})
    assert r.status_code == 303
    url = r.headers["location"]
    question = await browser.get(url)
    assert "Ask the AI" in question.text
    r = await browser.post(f"{url}/ai", data={"csrf_token": csrf(question.text)})
    assert r.status_code == 303
    assert "Being written from the community" in (await browser.get(url)).text
    r = await browser.post(f"{url}/answers", data={"csrf_token": csrf(question.text),
                                                   "content": "Chlorophyll absorbs light."})
    assert r.status_code == 303
    assert "Chlorophyll absorbs light." in (await browser.get(url)).text


async def test_error_pages_are_friendly_and_api_errors_stay_json(browser):
    r = await browser.get("/questions/7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "Not found" in r.text
    r = await browser.get("/no/such/page")
    assert r.status_code == 404 and "Not found" in r.text
    r = await browser.get("/api/v1/questions/7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22")
    assert r.status_code == 404 and r.json()["error"]["code"]
    r = await browser.get("/posts/new")  # signed out: to the login page, back afterwards
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fposts%2Fnew"


async def test_search_profiles_follow_and_notifications(browser):
    await sign_up(browser, "dora")
    page = await browser.get("/posts/new")
    await browser.post("/posts/new", data={"csrf_token": csrf(page.text), "title": "Eigenvalues",
                                           "content": "An eigenvector keeps its direction <b>x</b>."})
    r = await browser.get("/search", params={"q": "eigenvector"})
    assert r.status_code == 200
    assert "<mark>eigenvector</mark>" in r.text and "<b>x</b>" not in r.text
    r = await browser.get("/search", params={"q": "dora", "type": "user"})
    assert 'href="/u/dora"' in r.text
    # Someone follows dora: dora is notified, and the badge says so.
    browser.cookies.clear()
    await sign_up(browser, "eli")
    profile = await browser.get("/u/dora")
    assert profile.status_code == 200 and "Follow" in profile.text
    r = await browser.post("/u/dora/follow", data={"csrf_token": csrf(profile.text)})
    assert r.status_code == 303
    assert "Unfollow" in (await browser.get("/u/dora")).text
    browser.cookies.clear()
    login = await browser.get("/login")
    await browser.post("/login", data={"csrf_token": csrf(login.text), "email": "dora@example.org",
                                       "password": "correct horse battery"})
    badge = await browser.get("/notifications/badge")
    assert 'aria-label="1 unread notifications"' in badge.text
    notes = await browser.get("/notifications")
    assert "new" in notes.text
    r = await browser.post("/notifications/read", data={"csrf_token": csrf(notes.text)})
    assert r.status_code == 303
    assert "unread notifications" not in (await browser.get("/notifications/badge")).text
    assert (await browser.get("/u/nobody_here")).status_code == 404


async def test_the_admin_page_is_for_admins_only(browser, test_db):
    import asyncpg

    await sign_up(browser, "fred")
    r = await browser.get("/admin")
    assert r.status_code == 403 and "Not allowed" in r.text
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE username = 'fred'")
    finally:
        await conn.close()
    browser.cookies.clear()
    login = await browser.get("/login")
    await browser.post("/login", data={"csrf_token": csrf(login.text), "email": "fred@example.org",
                                       "password": "correct horse battery"})
    r = await browser.get("/admin")
    assert r.status_code == 200 and "Totals" in r.text and "fred@example.org" in r.text


async def test_profile_settings_and_avatar_upload(browser):
    from tests.api.files_support import jpeg_with_gps

    await sign_up(browser, "iris")
    page = await browser.get("/settings/profile")
    assert page.status_code == 200 and 'value="Iris"' in page.text
    r = await browser.post("/settings/profile", data={"csrf_token": csrf(page.text),
                                                      "full_name": "Iris Q.", "bio": "Physics"})
    assert r.status_code == 303
    r = await browser.post("/settings/avatar", data={"csrf_token": csrf(page.text)},
                           files={"file": ("me.jpg", jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 303
    profile = await browser.get("/u/iris")
    assert "Iris Q." in profile.text and "Physics" in profile.text
    avatar = re.search(r'<img class="avatar" src="([^"]+)"', profile.text).group(1)
    img = await browser.get(avatar.replace("&amp;", "&"))
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    r = await browser.post("/settings/avatar", data={"csrf_token": csrf(page.text)},
                           files={"file": ("notes.txt", b"not an image", "text/plain")})
    assert r.status_code == 415 and "not accepted" in r.text


async def login_as(browser: httpx.AsyncClient, name: str) -> None:
    browser.cookies.clear()
    page = await browser.get("/login")
    r = await browser.post("/login", data={"csrf_token": csrf(page.text),
                                           "email": f"{name}@example.org",
                                           "password": "correct horse battery"})
    assert r.status_code == 303


async def test_comments_replies_votes_and_accepting_in_pages(browser):
    await sign_up(browser, "jon")
    page = await browser.get("/posts/new")
    r = await browser.post("/posts/new", data={"csrf_token": csrf(page.text), "title": "Vectors",
                                               "content": "Arrows with length."})
    post_url = r.headers["location"]
    post_id = post_url.rsplit("/", 1)[1]
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": csrf(page.text),
                                                         "content": "Nice summary"})
    assert r.status_code == 303
    comment_id = r.headers["location"].rsplit("comment-", 1)[1]

    browser.cookies.clear()
    await sign_up(browser, "kim")
    page = await browser.get(post_url)
    await browser.post(f"{post_url}/comments", data={"csrf_token": csrf(page.text),
                                                     "content": "A reply", "parent_id": comment_id})
    r = await browser.post(f"/vote/post/{post_id}", data={
        "csrf_token": csrf(page.text), "vote_type": "upvote", "back": post_url})
    assert r.status_code == 303 and r.headers["location"] == post_url
    shown = await browser.get(post_url)
    assert "Nice summary" in shown.text and "A reply" in shown.text
    assert '<span class="visually-hidden">Score </span>1<' in shown.text
    assert 'aria-pressed="true" aria-label="Vote up"' in shown.text
    r = await browser.post(f"/vote/post/{post_id}", data={
        "csrf_token": csrf(page.text), "vote_type": "none", "back": "https://evil.example/"})
    assert r.headers["location"] == "/"  # never sent off-site

    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": csrf(ask.text),
                                                   "title": "What is a vector space?",
                                                   "content": "Axioms?"})
    q_url = r.headers["location"]
    await login_as(browser, "jon")
    question = await browser.get(q_url)
    await browser.post(f"{q_url}/answers", data={"csrf_token": csrf(question.text),
                                                 "content": "A set closed under + and scaling."})
    assert "Accept this answer" not in (await browser.get(q_url)).text  # not jon's to accept
    await login_as(browser, "kim")
    question = await browser.get(q_url)
    answer_id = re.search(r'id="answer-([0-9a-f-]{36})"', question.text).group(1)
    r = await browser.post(f"/answers/{answer_id}/accept", data={
        "csrf_token": csrf(question.text), "question_id": q_url.rsplit("/", 1)[1]})
    assert r.status_code == 303
    assert "Accepted answer" in (await browser.get(q_url)).text
