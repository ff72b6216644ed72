"""The web app's pages through HTTP: sessions in cookies, CSRF, sanitized Markdown, errors.

(Real-browser tests with Playwright are the next step; these drive the same pages as a
browser without JavaScript would.)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote

import asyncpg
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
        client.app = app  # type: ignore[attr-defined]
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
    assert 'aria-label="1 unread notification"' in badge.text
    notes = await browser.get("/notifications")
    assert "new" in notes.text
    r = await browser.post("/notifications/read", data={"csrf_token": csrf(notes.text)})
    assert r.status_code == 303
    assert "unread notification" not in (await browser.get("/notifications/badge")).text
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
    assert '<span class="visually-hidden">Likes </span>1<' in shown.text
    assert 'aria-pressed="true" aria-label="Like"' in shown.text
    assert 'aria-label="Vote down"' not in shown.text  # posts and comments are liked, not scored
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


async def make_admin(test_db, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE username = $1", name)
    finally:
        await conn.close()


async def new_post(browser: httpx.AsyncClient, title: str, content: str) -> str:
    page = await browser.get("/posts/new")
    r = await browser.post("/posts/new", data={"csrf_token": csrf(page.text), "title": title,
                                               "content": content})
    assert r.status_code == 303
    return r.headers["location"]


async def test_reporting_from_the_pages_with_and_without_htmx(browser):
    await sign_up(browser, "lena")
    post_url = await new_post(browser, "Cheap essays", "Buy essays at spam.example")
    post_id = post_url.rsplit("/", 1)[1]
    own = await browser.get(post_url)
    assert "/report?type=post" not in own.text  # nobody reports their own post

    browser.cookies.clear()
    await sign_up(browser, "milo")
    shown = await browser.get(post_url)
    link = f"/report?type=post&amp;id={post_id}&amp;back=%2Fposts%2F{post_id}"
    assert f'href="{link}"' in shown.text and f'hx-get="{link}"' in shown.text
    # Without JavaScript: the report page and a plain form post.
    form = await browser.get(f"/report?type=post&id={post_id}&back=/posts/{post_id}")
    assert form.status_code == 200 and "<h1>Report a post</h1>" in form.text
    # What one cannot see has no report form either.
    missing = await browser.get("/report?type=post&id=00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    for value, text in (("spam", "Spam or advertising"), ("other", "Something else")):
        assert f'for="reason-{post_id}-{value}">{text}</label>' in form.text
    token = csrf(form.text)
    # "Something else" needs words; no reason at all is asked for.
    r = await browser.post("/report", data={"csrf_token": token, "type": "post", "id": post_id,
                                            "reason": "other", "details": "  "})
    assert r.status_code == 422 and "say what is wrong in the details" in r.text
    r = await browser.post("/report", data={"csrf_token": token, "type": "post", "id": post_id})
    assert r.status_code == 422 and "Choose a reason" in r.text
    r = await browser.post("/report", data={"csrf_token": token, "type": "post", "id": post_id,
                                            "reason": "spam", "details": "Selling essays",
                                            "back": f"/posts/{post_id}"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/settings/reports?sent=1&back=%2Fposts%2F{post_id}"
    mine = await browser.get(r.headers["location"])
    assert "Your report was sent" in mine.text and "waiting for review" in mine.text
    assert "Selling essays" in mine.text and f'href="/posts/{post_id}"' in mine.text
    # Twice: a friendly 409 page without JavaScript, a 200 fragment for htmx.
    r = await browser.post("/report", data={"csrf_token": token, "type": "post", "id": post_id,
                                            "reason": "wrong"})
    assert r.status_code == 409 and "You already reported this post" in r.text
    r = await browser.post("/report", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "type": "post", "id": post_id, "reason": "wrong"})
    assert r.status_code == 200 and "You already reported this post" in r.text
    assert "<html" not in r.text  # a fragment, swapped in place of the form

    # With htmx: the form comes inline, and so does the thanks.
    comment = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                               "content": "Is this allowed?"})
    comment_id = comment.headers["location"].rsplit("comment-", 1)[1]
    browser.cookies.clear()
    await sign_up(browser, "nadia")
    fragment = await browser.get(f"/report?type=comment&id={comment_id}",
                                 headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'hx-post="/report"' in fragment.text and 'action="/report"' in fragment.text
    token = csrf((await browser.get("/")).text)
    r = await browser.post("/report", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "type": "comment", "id": comment_id, "reason": "harassment"})
    assert r.status_code == 200 and "Thank you. Your report was sent" in r.text

    # What one cannot see is 404 (a message in a chat one is not in), as is what does not exist.
    await login_as(browser, "milo")
    token = csrf((await browser.get("/chat")).text)
    room = await browser.post("/chat", data={"csrf_token": token, "username": "lena"})
    await browser.post(room.headers["location"], data={"csrf_token": token, "content": "Hi"})
    message_id = re.search(r"type=chat_message&amp;id=([0-9a-f-]{36})",
                           (await browser.get(room.headers["location"])).text)
    assert message_id is None  # milo's own message has no report link
    await login_as(browser, "lena")
    message_id = re.search(r"type=chat_message&amp;id=([0-9a-f-]{36})",
                           (await browser.get(room.headers["location"])).text).group(1)
    await login_as(browser, "nadia")
    token = csrf((await browser.get("/")).text)
    for target_type, target_id in (("chat_message", message_id),
                                   ("post", "7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22")):
        r = await browser.post("/report", data={"csrf_token": token, "type": target_type,
                                                "id": target_id, "reason": "spam"})
        assert r.status_code == 404 and "Not found" in r.text
    assert (await browser.get("/report?type=planet&id=x")).status_code == 422
    browser.cookies.clear()
    r = await browser.get(f"/report?type=post&id={post_id}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@contextlib.asynccontextmanager
async def _muting_many_more(test_db, name: str, n: int) -> AsyncIterator[None]:
    """``n`` new people, each muted by ``name`` after everyone ``name`` muted before; gone
    (with their mutes) afterwards."""
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute(
            "WITH made AS (INSERT INTO users (email, full_name, username)"
            " SELECT 'many' || i || '@example.org', 'Many ' || i, 'many_' || i"
            " FROM generate_series(1, $2::int) i RETURNING id)"
            " INSERT INTO user_mutes (muter_id, muted_id, created_at)"
            " SELECT (SELECT id FROM users WHERE username = $1), id, now() + interval '1 day'"
            " FROM made", name, n)
        yield
        await conn.execute("DELETE FROM users WHERE username LIKE 'many\\_%'")
    finally:
        await conn.close()


async def _user_id(test_db, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(test_db.owner_url)
    try:
        return str(await conn.fetchval("SELECT id FROM users WHERE username = $1", name))
    finally:
        await conn.close()


async def test_the_moderation_queue_resolves_reports_through_the_page(browser, test_db):
    import asyncpg

    await sign_up(browser, "olga")
    posts = [await new_post(browser, f"Post {n}", f"Text number {n}") for n in range(5)]
    ids = [u.rsplit("/", 1)[1] for u in posts]
    olga = await _user_id(test_db, "olga")
    for reporter in ("pablo", "quinn"):
        browser.cookies.clear()
        await sign_up(browser, reporter)
        token = csrf((await browser.get("/")).text)
        for post_id in ids:
            r = await browser.post("/report", data={
                "csrf_token": token, "type": "post", "id": post_id, "reason": "other",
                "details": f"off-topic, says {reporter[0]}"})
            assert r.status_code == 303
        r = await browser.post("/report", data={"csrf_token": token, "type": "user", "id": olga,
                                                "reason": "spam"})
        assert r.status_code == 303
    assert (await browser.get("/admin/reports")).status_code == 403  # not for reporters

    await sign_up(browser, "rosa")
    await make_admin(test_db, "rosa")
    await login_as(browser, "rosa")
    admin = await browser.get("/admin")
    assert 'href="/admin/reports"' in admin.text
    queue = await browser.get("/admin/reports")
    assert queue.status_code == 200
    # The snapshot and what reporters wrote; never who they are.
    assert "Text number 0" in queue.text and "off-topic, says p" in queue.text
    assert "pablo" not in queue.text and "quinn" not in queue.text
    assert "2 open reports" in queue.text and "2 other" in queue.text
    assert 'value="3"' in queue.text  # the hide threshold
    token = csrf(queue.text)

    async def act(target: str, **form: str) -> httpx.Response:
        return await browser.post(f"/admin/reports/{target}", data={"csrf_token": token, **form})

    # A reason is required except to dismiss; a suspension needs its end.
    r = await act(f"post/{ids[0]}", action="hide")
    assert r.status_code == 422 and "A reason is required" in r.text
    # Said in that item's form, with what was typed kept and the reason field focused.
    r = await act(f"post/{ids[0]}", action="suspend", reason="Keeps its words")
    said = re.search(rf'<p class="errors" role="alert" id="refused-post-{ids[0]}">([^<]+)</p>',
                     r.text)
    assert r.status_code == 422 and said and "suspend_until" in said.group(1)
    assert re.search(rf'id="reason-post-{ids[0]}" name="reason" maxlength="1000" '
                     r'value="Keeps its words" aria-invalid="true"[^>]* autofocus>', r.text)
    r = await act(f"user/{olga}", action="suspend", reason="Spam")
    assert r.status_code == 422 and "suspend_until" in r.text
    r = await act(f"user/{olga}", action="suspend", reason="Spam", suspend_until="soon")
    assert r.status_code == 422 and "date and time" in r.text

    r = await act(f"post/{ids[0]}", action="dismiss")
    assert r.status_code == 303 and r.headers["location"] == "/admin/reports?done=dismiss&resolved=2"
    assert (await act(f"post/{ids[1]}", action="hide", reason="Off-topic")).status_code == 303
    assert (await act(f"post/{ids[2]}", action="delete", reason="Off-topic")).status_code == 303
    assert (await act(f"post/{ids[3]}", action="warn", reason="Stay on topic")).status_code == 303
    assert (await act(f"user/{olga}", action="suspend", reason="Spam",
                      suspend_until="2999-01-01T12:00")).status_code == 303
    assert (await act(f"post/{ids[4]}", action="deactivate",
                      reason="Spam again")).status_code == 303
    queue = await browser.get("/admin/reports?done=deactivate&resolved=2")
    assert "Nothing is waiting for review" in queue.text and "2 report(s) resolved" in queue.text

    conn = await asyncpg.connect(test_db.owner_url)
    try:
        posts_left = {str(r["id"]): r["hidden_at"] for r in await conn.fetch(
            "SELECT id, hidden_at FROM posts WHERE author_id = $1", olga)}
        user = await conn.fetchrow("SELECT is_active, suspended_until FROM users WHERE id = $1",
                                   olga)
        statuses = [r["status"] for r in await conn.fetch(
            "SELECT status::text AS status FROM reports ORDER BY status")]
    finally:
        await conn.close()
    assert ids[2] not in posts_left and posts_left[ids[0]] is None and posts_left[ids[1]]
    assert not user["is_active"] and user["suspended_until"].year == 2999
    assert statuses == ["actioned"] * 10 + ["dismissed"] * 2
    # Each action is in the audit log, which the admin page filters by action.
    audit = await browser.get("/admin", params={"action": "moderation."})
    for action in ("dismiss", "hide", "delete", "warn", "suspend", "deactivate"):
        assert f"moderation.{action}" in audit.text
    assert "user.update" not in audit.text

    # The threshold, through its form.
    r = await browser.post("/admin/reports/settings", data={"csrf_token": token,
                                                            "hide_threshold": "5",
                                                            "reason": "Bigger community"})
    assert r.status_code == 303
    assert 'value="5"' in (await browser.get("/admin/reports")).text
    r = await browser.post("/admin/reports/settings", data={"csrf_token": token,
                                                            "hide_threshold": "0"})
    assert r.status_code == 422
    settings = await browser.get("/admin", params={"action": "settings."})
    assert "settings.hide_threshold" in settings.text and "Bigger community" in settings.text


async def test_force_logout_from_the_people_list(browser, test_db):
    await sign_up(browser, "sam")
    sam_cookies = dict(browser.cookies)
    browser.cookies.clear()
    await sign_up(browser, "tara")
    await make_admin(test_db, "tara")
    await login_as(browser, "tara")
    admin = await browser.get("/admin")
    sam = await _user_id(test_db, "sam")
    assert f'action="/admin/users/{sam}/end-sessions"' in admin.text
    r = await browser.post(f"/admin/users/{sam}/end-sessions",
                           data={"csrf_token": csrf(admin.text), "reason": "Lost phone"})
    assert r.status_code == 303 and r.headers["location"] == "/admin?ended=1#people"
    assert "1 session(s) ended" in (await browser.get("/admin?ended=1")).text
    assert "user.end_sessions" in (await browser.get("/admin?action=user.")).text
    # Sam's browser is signed out at once: its access token no longer works, nor its refresh.
    browser.cookies.clear()
    for name, value in sam_cookies.items():
        browser.cookies.set(name, value)
    r = await browser.get("/settings/profile")
    assert r.status_code == 401 and "Please log in" in r.text
    assert "Log out" not in r.text


async def test_the_queue_page_shows_accounts_with_spam_signals_and_acts_on_them(browser,
                                                                                 test_db):
    await sign_up(browser, "vera")
    post_url = await new_post(browser, "Exam tips", "Sleep well the night before.")
    browser.cookies.clear()
    await sign_up(browser, "wes")  # the same comment five times: one text repeated
    token = csrf((await browser.get(post_url)).text)
    for _ in range(5):
        r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                             "content": "Essays at cheap.example"})
        assert r.status_code == 303
    wes = await _user_id(test_db, "wes")
    await sign_up(browser, "xena")
    await make_admin(test_db, "xena")
    await login_as(browser, "xena")
    queue = await browser.get("/admin/reports")
    assert queue.status_code == 200
    assert "Accounts with spam signals" in queue.text
    signals = queue.text.split('id="signals-heading"', 1)[1]
    assert 'href="/u/wes">@wes</a>' in signals and "one text sent 5 times" in signals
    assert "@vera" not in signals and "@xena" not in signals  # nothing flags them
    assert f'action="/admin/reports/user/{wes}"' in signals
    assert f'action="/admin/users/{wes}/end-sessions"' in signals
    assert 'href="/admin?q=wes#people"' in signals
    assert "Essays at cheap.example" not in signals  # counts only, never the text

    # Acting from the section: a warning, without any report to resolve.
    r = await browser.post(f"/admin/reports/user/{wes}", data={
        "csrf_token": csrf(queue.text), "action": "warn", "reason": "One comment is enough"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/reports?done=warn&resolved=0"
    assert "moderation.warn" in (await browser.get("/admin?action=moderation.")).text
    r = await browser.post(f"/admin/reports/user/{wes}", data={
        "csrf_token": csrf(queue.text), "action": "deactivate", "reason": "Spam"})
    assert r.status_code == 303
    signals = (await browser.get("/admin/reports")).text.split('id="signals-heading"', 1)[1]
    assert "@wes" in signals and "deactivated" in signals
    assert f'action="/admin/reports/user/{wes}"' not in signals


async def test_too_many_mentions_keep_the_new_post_form_with_its_text(test_db, tmp_path):
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, write_limits_enabled=True)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        for name in ("yan", "yara", "yuri", "yves", "zoe"):
            browser.cookies.clear()
            await sign_up(browser, name)
        page = await browser.get("/posts/new")
        text = "Study group: @yan @yara @yuri @yves, who is in?"
        r = await browser.post("/posts/new", data={"csrf_token": csrf(page.text),
                                                   "title": "Study group", "content": text})
        assert r.status_code == 422
        assert "New accounts may mention at most 3 people in a post; this one mentions 4." in r.text
        assert "Study group: @yan @yara @yuri @yves, who is in?" in r.text  # kept in the form
        r = await browser.post("/posts/new", data={"csrf_token": csrf(page.text),
                                                   "title": "Study group",
                                                   "content": "Study group: @yan @yara @yuri?"})
        assert r.status_code == 303
    await app.state.runtime.stop()


async def test_account_export_and_deletion_in_the_pages(browser, test_db, tmp_path,
                                                        monkeypatch):
    import io
    import json
    import tempfile
    import zipfile

    # The export's temporary file goes to a directory of this test's own, to see it removed.
    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(exports))
    await sign_up(browser, "uma")
    await new_post(browser, "My notes", "Kept in the export")
    account = await browser.get("/settings/account")
    assert account.status_code == 200 and 'href="/settings/account/export"' in account.text
    assert 'aria-label="Settings"' in account.text and "cannot be undone" in account.text
    r = await browser.get("/settings/account/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"] == "no-store"
    assert 'filename="focushub-export-uma-' in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert {"README.txt", "account.json", "posts.json"} <= set(archive.namelist())
    assert json.loads(archive.read("account.json"))["username"] == "uma"
    assert [p["title"] for p in json.loads(archive.read("posts.json"))] == ["My notes"]
    assert list(exports.iterdir()) == []  # the temporary file is gone once sent

    token = csrf(account.text)
    r = await browser.post("/settings/account/delete", data={"csrf_token": token,
                                                             "password": "not my password"})
    assert r.status_code == 403 and "The password is wrong" in r.text
    r = await browser.post("/settings/account/delete", data={"csrf_token": token, "password": ""})
    assert r.status_code == 403
    r = await browser.post("/settings/account/delete", data={"csrf_token": "forged",
                                                             "password": "correct horse battery"})
    assert r.status_code == 403 and "expired" in r.text
    assert await _user_id(test_db, "uma") != "None"
    r = await browser.post("/settings/account/delete", data={"csrf_token": token,
                                                             "password": "correct horse battery"})
    assert r.status_code == 303 and r.headers["location"] == "/?deleted=1"
    assert "fh_access" not in browser.cookies and "fh_refresh" not in browser.cookies
    front = await browser.get("/?deleted=1")
    assert "Your account was deleted" in front.text and "Log in" in front.text
    assert await _user_id(test_db, "uma") == "None"
    # Signed out: the account pages send to the login page.
    r = await browser.get("/settings/account/export")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.fixture
async def big_site(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """The pages where any account with a row is large: its export is made by a job."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, export_sync_max_rows=0)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.6", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await app.state.runtime.stop()


async def test_a_large_account_s_export_is_prepared_then_downloaded(big_site, browser):
    import asyncio
    import io
    import json
    import zipfile

    await sign_up(big_site, "vic")
    await new_post(big_site, "Long notes", "A lot of them")
    account = await big_site.get("/settings/account")
    assert account.status_code == 200
    assert 'href="/settings/account/export"' not in account.text
    assert "Prepare my download" in account.text and "for 7 days" in account.text
    # An old link to the direct download leads to the form.
    r = await big_site.get("/settings/account/export")
    assert r.status_code == 303 and r.headers["location"].startswith("/settings/account")
    token = csrf(account.text)
    r = await big_site.post("/settings/account/export", data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = await big_site.post("/settings/account/export", data={"csrf_token": token})
    assert r.status_code == 303
    page = await big_site.get(r.headers["location"])
    assert "is being prepared" in page.text and "Prepare my download" not in page.text

    rt = big_site.app.state.runtime  # type: ignore[attr-defined]
    await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False), 60)
    page = await big_site.get("/settings/account")
    link = re.search(r'href="(/settings/account/exports/[0-9a-f-]+/download)"', page.text)
    assert link and "Prepare a new download" in page.text
    r = await big_site.get(link.group(1))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert [p["title"] for p in json.loads(archive.read("posts.json"))] == ["Long notes"]
    # Someone else, signed in elsewhere, gets nothing.
    await sign_up(browser, "wes")
    assert (await browser.get(link.group(1))).status_code == 404


async def _outbox(test_db, email: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(test_db.owner_url)
    try:
        return [r["body"] for r in await conn.fetch(
            "SELECT body FROM focushub_auth.mail_outbox WHERE to_email = $1 ORDER BY id", email)]
    finally:
        await conn.close()


async def test_privacy_settings_are_saved_and_enforced_in_the_pages(browser):
    await sign_up(browser, "pia")
    settings = await browser.get("/settings/privacy")
    assert settings.status_code == 200
    assert 'href="/settings/privacy" aria-current="page"' in settings.text
    assert 'href="/settings/blocks"' in settings.text
    assert re.search(r'value="everyone"\s+checked', settings.text)  # the defaults
    assert "Only people you follow can start a chat with you or add you to a group" in settings.text
    token = csrf(settings.text)
    r = await browser.post("/settings/privacy", data={
        "csrf_token": token, "profile_visibility": "friends", "dm_from": "everyone"})
    assert r.status_code == 422 and "Choose one of the offered options" in r.text
    r = await browser.post("/settings/privacy", data={
        "csrf_token": token, "profile_visibility": "signed_in", "dm_from": "following",
        "show_email": "true"})
    assert r.status_code == 303 and r.headers["location"] == "/settings/privacy?saved=1"
    saved = await browser.get(r.headers["location"])
    assert "Saved." in saved.text
    for field_id in ("visibility-signed-in", "dm-following", "show-email"):
        assert re.search(rf'id="{field_id}"[^>]*checked', saved.text), field_id
    assert not re.search(r'id="dm-everyone"[^>]*checked', saved.text)

    # A signed-in stranger sees the profile and the email, but may not start a chat.
    await sign_up_fresh(browser, "quin")
    profile = await browser.get("/u/pia")
    assert profile.status_code == 200
    assert '<a href="mailto:pia@example.org">pia@example.org</a>' in profile.text
    token = csrf(profile.text)
    r = await browser.post("/chat", data={"csrf_token": token, "username": "pia"})
    assert r.status_code == 403
    assert "You cannot start a chat with @pia" in r.text
    assert "accepts chats only from people they follow" in r.text
    assert 'value="pia"' in r.text  # the form keeps what was typed
    # Anonymous visitors find no profile at all.
    browser.cookies.clear()
    assert (await browser.get("/u/pia")).status_code == 404
    assert (await browser.get("/u/quin")).status_code == 200

    # Once pia follows quin, quin may start the chat; with the email hidden, quin sees none.
    await login_as(browser, "pia")
    token = csrf((await browser.get("/u/quin")).text)
    await browser.post("/u/quin/follow", data={"csrf_token": token})
    r = await browser.post("/settings/privacy", data={
        "csrf_token": token, "profile_visibility": "everyone", "dm_from": "following"})
    assert r.status_code == 303
    await login_as(browser, "quin")
    profile = await browser.get("/u/pia")
    assert "pia@example.org" not in profile.text
    r = await browser.post("/chat", data={"csrf_token": csrf(profile.text), "username": "pia"})
    assert r.status_code == 303 and r.headers["location"].startswith("/chat/")
    browser.cookies.clear()
    assert (await browser.get("/u/pia")).status_code == 200
    r = await browser.get("/settings/privacy")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def sign_up_fresh(browser: httpx.AsyncClient, name: str) -> None:
    browser.cookies.clear()
    await sign_up(browser, name)


async def test_changing_the_password_in_the_page_keeps_this_session_only(browser):
    await sign_up(browser, "rhea")
    elsewhere = dict(browser.cookies)  # another device's session
    await login_as(browser, "rhea")
    account = await browser.get("/settings/account")
    assert account.status_code == 200
    assert account.text.index("Change email") < account.text.index("Change password") \
        < account.text.index("Download your data")
    token = csrf(account.text)

    def form(current: str, new: str, confirm: str) -> dict[str, str]:
        return {"csrf_token": token, "current_password": current, "new_password": new,
                "confirm_password": confirm}

    r = await browser.post("/settings/account/password",
                           data=form("not my password", "a new long secret", "a new long secret"))
    assert r.status_code == 403 and "The current password is wrong" in r.text
    r = await browser.post("/settings/account/password",
                           data=form("correct horse battery", "a new long secret", "a new long secreT"))
    assert r.status_code == 422 and "not the same" in r.text
    r = await browser.post("/settings/account/password",
                           data=form("correct horse battery", "short", "short"))
    assert r.status_code == 422 and "needs 8 to 256 characters" in r.text
    r = await browser.post("/settings/account/password",
                           data=form("correct horse battery", "a new long secret", "a new long secret"))
    assert r.status_code == 303 and r.headers["location"] == "/settings/account?password=changed"
    done = await browser.get(r.headers["location"])
    assert done.status_code == 200 and "Your password is changed" in done.text
    # This page's session goes on, its refresh token too (the kept family): without the
    # access cookie, the page renews it.
    browser.cookies.delete("fh_access")
    again = await browser.get("/settings/account")
    assert again.status_code == 200 and "Log out" in again.text
    assert "fh_access" in again.cookies
    # The other device is signed out.
    browser.cookies.clear()
    for name, value in elsewhere.items():
        browser.cookies.set(name, value)
    assert (await browser.get("/settings/profile")).status_code == 401
    # Only the new password logs in.
    browser.cookies.clear()
    page = await browser.get("/login")
    r = await browser.post("/login", data={"csrf_token": csrf(page.text),
                                           "email": "rhea@example.org",
                                           "password": "correct horse battery"})
    assert r.status_code == 401
    r = await browser.post("/login", data={"csrf_token": csrf(page.text),
                                           "email": "rhea@example.org",
                                           "password": "a new long secret"})
    assert r.status_code == 303


async def test_changing_the_email_in_the_page(browser, test_db):
    await sign_up(browser, "saul")
    await sign_up_fresh(browser, "tess")
    account = await browser.get("/settings/account")
    assert "A verification mail goes to the new address" in account.text
    token = csrf(account.text)
    r = await browser.post("/settings/account/email", data={
        "csrf_token": token, "email": "saul@example.org", "password": "correct horse battery"})
    assert r.status_code == 409 and "Another account already uses this email" in r.text
    assert 'value="saul@example.org"' in r.text
    r = await browser.post("/settings/account/email", data={
        "csrf_token": token, "email": "tess.new@example.org", "password": "wrong password"})
    assert r.status_code == 403 and "The current password is wrong" in r.text
    r = await browser.post("/settings/account/email", data={
        "csrf_token": token, "email": "not an address", "password": ""})
    assert r.status_code == 422
    assert "Enter a valid email address" in r.text and "Enter your current password" in r.text
    assert await _outbox(test_db, "tess.new@example.org") == []
    r = await browser.post("/settings/account/email", data={
        "csrf_token": token, "email": "tess.new@example.org", "password": "correct horse battery"})
    assert r.status_code == 303 and r.headers["location"] == "/settings/account?email=changed"
    done = await browser.get(r.headers["location"])
    assert "Your email is now tess.new@example.org" in done.text
    assert "(not confirmed yet)" in done.text
    mails = await _outbox(test_db, "tess.new@example.org")
    assert len(mails) == 1 and "/verify-email?token=" in mails[0]
    browser.cookies.clear()
    page = await browser.get("/login")
    r = await browser.post("/login", data={"csrf_token": csrf(page.text),
                                           "email": "tess.new@example.org",
                                           "password": "correct horse battery"})
    assert r.status_code == 303


async def test_blocking_and_muting_from_the_profile(browser, test_db):
    await sign_up(browser, "ulla")
    post_url = await new_post(browser, "Study plan", "Weekly goals")
    await sign_up_fresh(browser, "vera")
    await sign_up_fresh(browser, "wyn")
    await login_as(browser, "ulla")
    profile = await browser.get("/u/vera")
    assert 'action="/u/vera/block"' in profile.text and 'hx-post="/u/vera/mute"' in profile.text
    assert "they are not told" in profile.text
    assert 'action="/u/ulla/block"' not in (await browser.get("/u/ulla")).text  # not oneself
    token = csrf(profile.text)
    r = await browser.post("/u/vera/block", data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = await browser.post("/u/vera/block", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/settings/blocks?blocked=vera"
    blocks = await browser.get(r.headers["location"])
    assert "You blocked @vera. They are not told." in blocks.text
    vera = await _user_id(test_db, "vera")
    assert f'action="/settings/blocks/block/{vera}/remove"' in blocks.text
    assert (await browser.get("/u/vera")).status_code == 404  # hidden both ways

    # Mute with htmx: the controls come back in place, in their new state.
    r = await browser.post("/u/wyn/mute", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "muted": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert ">Unmute</button>" in r.text and "Muted @wyn." in r.text
    assert ">Unmute</button>" in (await browser.get("/u/wyn")).text
    blocks = await browser.get("/settings/blocks")
    wyn = await _user_id(test_db, "wyn")
    assert f'action="/settings/blocks/mute/{wyn}/remove"' in blocks.text
    # However many people muted since (the list shows the newest 1,000), wyn's profile
    # still says muted.
    async with _muting_many_more(test_db, "ulla", 1000):
        assert ">Unmute</button>" in (await browser.get("/u/wyn")).text

    # vera finds neither ulla's profile nor her post, and cannot comment on it or message her.
    await login_as(browser, "vera")
    token = csrf((await browser.get("/login")).text)
    assert (await browser.get("/u/ulla")).status_code == 404
    assert (await browser.get(post_url)).status_code == 404
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token, "content": "Hey"})
    assert r.status_code == 404
    r = await browser.post("/chat", data={"csrf_token": token, "username": "ulla"})
    assert r.status_code == 404 and "There is nobody called @ulla" in r.text
    assert "block" not in r.text.lower()  # not told

    # Unblock (plain form) and unmute (htmx) from the list.
    await login_as(browser, "ulla")
    token = csrf((await browser.get("/settings/blocks")).text)
    r = await browser.post(f"/settings/blocks/block/{vera}/remove",
                           data={"csrf_token": token, "username": "vera"})
    assert r.status_code == 303
    listed = await browser.get(r.headers["location"])
    assert "Unblocked @vera." in listed.text and "You have not blocked anyone." in listed.text
    r = await browser.post(f"/settings/blocks/mute/{wyn}/remove", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "username": "wyn"})
    assert r.status_code == 200 and "<html" not in r.text
    assert "Unmuted @wyn." in r.text and "You have not muted anyone." in r.text
    assert ">Mute</button>" in (await browser.get("/u/wyn")).text
    assert (await browser.get("/settings/blocks/planet/x")).status_code in (404, 405)
    await login_as(browser, "vera")
    token = csrf((await browser.get("/u/ulla")).text)
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token, "content": "Hey"})
    assert r.status_code == 303


async def test_muting_a_chat_room_in_the_pages(browser):
    await sign_up(browser, "yuri")
    await sign_up_fresh(browser, "xena")
    await login_as(browser, "yuri")
    await follows(browser, "yuri", "xena")  # her chat is a chat to him, not a request
    await login_as(browser, "xena")
    token = csrf((await browser.get("/chat")).text)
    room_url = (await browser.post("/chat", data={"csrf_token": token,
                                                  "username": "yuri"})).headers["location"]

    async def xena_says(text: str) -> str:
        """Sends as xena; signed in again as yuri, the form token of yuri's session."""
        await login_as(browser, "xena")
        token = csrf((await browser.get("/chat")).text)
        sent = await browser.post(room_url, data={"csrf_token": token, "content": text})
        assert sent.status_code == 303
        await login_as(browser, "yuri")
        return csrf((await browser.get("/chat")).text)

    token = await xena_says("Library at six?")
    rooms = await browser.get("/chat")
    assert 'aria-label="1 unread"' in rooms.text and ">Muted<" not in rooms.text
    page = await browser.get(room_url)
    assert ">Mute room</button>" in page.text
    r = await browser.post(f"{room_url}/mute", data={"csrf_token": token, "muted": "true"})
    assert r.status_code == 303 and r.headers["location"] == room_url
    assert ">Unmute room</button>" in (await browser.get(room_url)).text
    token = await xena_says("Or at seven?")
    rooms = await browser.get("/chat")
    assert ">Muted<" in rooms.text and "unread" not in rooms.text
    r = await browser.post(f"{room_url}/mute", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "muted": "false"})
    assert r.status_code == 200 and ">Mute room</button>" in r.text and "<html" not in r.text
    rooms = await browser.get("/chat")
    # Unmuted, the message that came while muted counts again (muting moved no read
    # position; opening the room read the first one).
    assert ">Muted<" not in rooms.text and 'aria-label="1 unread"' in rooms.text
    # A room one is not in cannot be muted.
    r = await browser.post("/chat/7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22/mute",
                           data={"csrf_token": token, "muted": "true"})
    assert r.status_code == 404


@pytest.fixture
async def open_site(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """The pages with the write limits off (a long chat written in one go) and a small file
    limit (a refused upload without a large body)."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, write_limits_enabled=False, max_upload_bytes=64 * 1024)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.runtime.stop()


async def follows(browser: httpx.AsyncClient, who: str, whom: str) -> None:
    """``who`` (signed in) follows ``whom`` from the profile page."""
    token = csrf((await browser.get(f"/u/{whom}")).text)
    r = await browser.post(f"/u/{whom}/follow", data={"csrf_token": token})
    assert r.status_code in (200, 303), r.text


async def _room_with(browser: httpx.AsyncClient, me: str, other: str) -> str:
    """Signs ``me`` then ``other`` up, ``other`` follows ``me`` (so the room is a chat, not a
    message request), and ``me`` (signed in again) opens their direct room."""
    await sign_up(browser, me)
    browser.cookies.clear()
    await sign_up(browser, other)
    await follows(browser, other, me)
    await login_as(browser, me)
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post("/chat", data={"csrf_token": token, "username": other})
    assert r.status_code == 303
    return r.headers["location"]


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<li id="m-(\d+)"', html)]


async def test_the_room_page_pages_back_and_marks_what_it_shows_read(open_site):
    browser = open_site
    room_url = await _room_with(browser, "kai", "lou")
    token = csrf((await browser.get(room_url)).text)
    for n in range(1, 61):
        r = await browser.post(room_url, data={"csrf_token": token, "content": f"note {n}"})
        assert r.status_code == 303

    # The latest 50, with the way back to the 10 before them.
    page = await browser.get(room_url)
    assert _seqs(page.text) == list(range(11, 61))
    assert f'href="{room_url}?before=11"' in page.text and "Load earlier messages" in page.text
    assert 'class="seen"' not in page.text  # lou has not read anything yet
    # Without JavaScript: the earlier page on its own, then the start of the chat.
    earlier = await browser.get(f"{room_url}?before=11")
    assert earlier.status_code == 200 and _seqs(earlier.text) == list(range(1, 11))
    assert "This is the beginning of the chat." in earlier.text
    assert "Load earlier messages" not in earlier.text and "Show the latest messages" in earlier.text
    # With htmx: only the messages, and the link that replaces the one clicked.
    fragment = await browser.get(f"{room_url}?before=11", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert _seqs(fragment.text) == list(range(1, 11))
    assert 'id="older" class="older" hx-swap-oob="outerHTML"' in fragment.text
    middle = await browser.get(f"{room_url}?before=30", headers={"HX-Request": "true"})
    assert _seqs(middle.text) == list(range(1, 30))
    assert f'hx-get="{room_url}?before=1"' not in middle.text  # 29 < 50: nothing before
    for bad in ("0", "x", "-3"):
        assert (await browser.get(f"{room_url}?before={bad}")).status_code == 422

    # lou has 60 unread. An earlier page reads nothing; the room's latest page reads all.
    await login_as(browser, "lou")
    assert 'aria-label="60 unread"' in (await browser.get("/chat")).text
    await browser.get(f"{room_url}?before=11")
    assert 'aria-label="60 unread"' in (await browser.get("/chat")).text
    lou_page = await browser.get(room_url)
    assert 'class="seen"' not in lou_page.text  # "Seen" is for one's own messages
    assert 'data-read-seq="60"' in lou_page.text
    assert "unread" not in (await browser.get("/chat")).text
    # kai now sees "Seen" under his latest message, and only there.
    await login_as(browser, "kai")
    kai_page = await browser.get(room_url)
    assert kai_page.text.count('<span class="seen">Seen</span>') == 1
    last = kai_page.text[kai_page.text.index('<li id="m-60"'):]
    assert last.index('class="seen"') < last.index("</li>")
    token = csrf(kai_page.text)
    await browser.post(room_url, data={"csrf_token": token, "content": "and one more"})
    assert 'class="seen"' not in (await browser.get(room_url)).text

    # The script's read receipt: lou reads up to a seq (never back, never past the end).
    await login_as(browser, "lou")
    token = csrf((await browser.get("/chat")).text)
    assert 'aria-label="1 unread"' in (await browser.get("/chat")).text
    r = await browser.post(f"{room_url}/read", data={"seq": "61"},
                           headers={"X-CSRF-Token": token})
    assert r.status_code == 204
    assert "unread" not in (await browser.get("/chat")).text
    assert (await browser.post(f"{room_url}/read", data={"seq": "61"})).status_code == 403
    assert (await browser.post(f"{room_url}/read", data={"seq": "-1", "csrf_token": token})
            ).status_code == 422
    await login_as(browser, "kai")
    assert '<span class="seen">Seen</span>' in (await browser.get(room_url)).text

    # Someone outside the room: 404 for the page, its earlier messages and its people.
    await login_as(browser, "lou")
    browser.cookies.clear()
    await sign_up(browser, "moe")
    for path in (room_url, f"{room_url}?before=11", f"{room_url}/people"):
        assert (await browser.get(path)).status_code == 404, path
    token = csrf((await browser.get("/chat")).text)
    assert (await browser.post(f"{room_url}/read", data={"seq": "1", "csrf_token": token})
            ).status_code == 404


async def test_the_room_page_lists_its_people(open_site):
    browser = open_site
    room_url = await _room_with(browser, "nia", "oto")
    page = await browser.get(room_url)
    people = page.text[page.text.index('<ul class="people"'):]
    people = people[:people.index("</ul>")]
    assert '<a href="/u/nia">@nia</a> (you)' in people and '<a href="/u/oto">@oto</a>' in people
    assert people.count('<span class="presence">') == 2
    fragment = await browser.get(f"{room_url}/people", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert '<a href="/u/oto">@oto</a>' in fragment.text


async def test_attachments_are_sent_shown_and_downloaded_from_the_room_page(open_site):
    from tests.api.files_support import png

    browser = open_site
    room_url = await _room_with(browser, "pat", "quy")
    token = csrf((await browser.get(room_url)).text)
    picture = png((60, 40))
    r = await browser.post(f"{room_url}/attachments", data={"csrf_token": token},
                           files={"file": ("board.png", picture, "image/png")})
    assert r.status_code == 303 and r.headers["location"] == f"{room_url}#end", r.text
    notes = b"Entropy of a closed system never decreases.\n"
    r = await browser.post(f"{room_url}/attachments", data={"csrf_token": token},
                           files={"file": ("notes.txt", notes, "text/plain")})
    assert r.status_code == 303

    page = (await browser.get(room_url)).text
    image = re.search(r'<img class="attachment" src="(/chat/[^"]+)" alt="board.png">', page)
    link = re.search(r'<a class="file" href="(/chat/[^"]+)" download>notes.txt</a>', page)
    assert image and link, page
    assert image.group(1).startswith(f"{room_url}/attachments/")

    # The other participant downloads both through the page's routes (the session cookie).
    await login_as(browser, "quy")
    got = await browser.get(image.group(1))
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content.startswith(b"\x89PNG")  # re-encoded, so not byte for byte
    got = await browser.get(link.group(1))
    assert got.status_code == 200 and got.content == notes
    assert got.headers["content-disposition"].startswith("inline") or \
        got.headers["content-type"].startswith("text/plain")
    # Anyone else: 404, as for a guessed id; signed out: to the login page.
    browser.cookies.clear()
    assert (await browser.get(link.group(1))).status_code == 303
    await sign_up(browser, "rex")
    assert (await browser.get(link.group(1))).status_code == 404
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post(f"{room_url}/attachments", data={"csrf_token": token},
                           files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 404

    # Refused files are said on the room page with the service's status; nothing is sent.
    await login_as(browser, "pat")
    token = csrf((await browser.get(room_url)).text)
    before = _seqs((await browser.get(room_url)).text)
    for name, body, status, words in (
            ("big.txt", b"a" * (64 * 1024 + 1), 413, "The file is too large"),
            ("page.html", b"<html><script>alert(1)</script></html>", 415,
             "This type of file is not accepted"),
            ("empty.txt", b"", 422, "This file cannot be sent"),
            ("", b"", 422, "Choose a file to send")):
        r = await browser.post(f"{room_url}/attachments", data={"csrf_token": token},
                               files={"file": (name, body, "application/octet-stream")})
        assert r.status_code == status, (name, r.status_code)
        assert 'role="alert"' in r.text and words in r.text, name
        assert '<input type="file" id="chat-file"' in r.text
    r = await browser.post(f"{room_url}/attachments", data={"csrf_token": token})
    assert r.status_code == 422 and "Choose a file to send" in r.text
    r = await browser.post(f"{room_url}/attachments",
                           files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 403
    assert _seqs((await browser.get(room_url)).text) == before


async def test_notification_settings_are_saved_and_followed(browser, test_db):
    await sign_up(browser, "nadia")
    page = await browser.get("/settings/notifications")
    assert page.status_code == 200
    assert 'id="notify-follow"' in page.text and "checked" in page.text
    # Everything but follows stays on.
    kept = {"csrf_token": csrf(page.text), "like": "true", "comment": "true", "answer": "true",
            "mention": "true", "system": "true"}
    r = await browser.post("/settings/notifications", data={**kept, "csrf_token": "forged"})
    assert r.status_code == 403
    r = await browser.post("/settings/notifications", data=kept)
    assert r.status_code == 303 and r.headers["location"] == "/settings/notifications?saved=1"
    shown = await browser.get("/settings/notifications?saved=1")
    assert "Saved." in shown.text
    assert re.search(r'id="notify-follow"[^>]*>', shown.text).group(0).count("checked") == 0
    assert "checked" in re.search(r'id="notify-like"[^>]*>', shown.text).group(0)
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        row = await conn.fetchrow(
            "SELECT on_follow, on_like FROM notification_preferences p JOIN users u"
            " ON u.id = p.user_id WHERE u.username = 'nadia'")
    finally:
        await conn.close()
    assert (row["on_follow"], row["on_like"]) == (False, True)
    browser.cookies.clear()
    assert (await browser.get("/settings/notifications")).status_code in (302, 303)


async def test_invitations_and_message_requests_in_the_chat_pages(browser):
    await sign_up(browser, "rhea")
    await sign_up_fresh(browser, "sami")
    # sami (whom rhea does not follow) writes to her and puts her in a group.
    token = csrf((await browser.get("/chat")).text)
    dm = (await browser.post("/chat", data={"csrf_token": token, "username": "rhea"})
          ).headers["location"]
    assert (await browser.post(dm, data={"csrf_token": token, "content": "Hello rhea"})
            ).status_code == 303
    group = (await browser.post("/chat", data={"csrf_token": token, "name": "Book club"})
             ).headers["location"]
    group_id = group.rsplit("/", 1)[1]
    dm_id = dm.rsplit("/", 1)[1]
    # sami adds her from the group's page: she does not follow sami, so she is invited.
    page = (await browser.get(group)).text
    assert f'action="/chat/{group_id}/people"' in page and "Add someone" in page
    r = await browser.post(f"{group}/people", data={"csrf_token": "x", "username": "rhea"})
    assert r.status_code == 403  # no form token, nobody added
    r = await browser.post(f"{group}/people", data={"csrf_token": token, "username": "@rhea"})
    assert r.status_code == 303 and r.headers["location"] == f"{group}?invited=rhea"
    people = (await browser.get(r.headers["location"])).text
    assert "<a href=\"/u/rhea\">@rhea</a> (invited)" in people
    assert "@rhea is invited: they join when they accept." in people
    r = await browser.post(f"{group}/people", data={"csrf_token": token, "username": "nobody9"})
    assert r.status_code == 404 and "There is nobody called @nobody9 to add." in r.text
    # Only the group's admins see the form; a direct chat has none.
    assert f'action="/chat/{dm_id}/people"' not in (await browser.get(dm)).text

    await login_as(browser, "rhea")
    chat = await browser.get("/chat")
    assert "Invitations" in chat.text and "Book club" in chat.text
    assert "Message requests" in chat.text and "From @sami" in chat.text
    assert f'action="/chat/invitations/{group_id}/accept"' in chat.text
    assert f'action="/chat/requests/{dm_id}/decline"' in chat.text
    assert "unread" not in chat.text  # a request counts nothing
    # The request's page: readable, with Accept and Decline instead of the message form.
    page = await browser.get(dm)
    assert "Hello rhea" in page.text and 'id="send"' not in page.text
    assert f'action="/chat/requests/{dm_id}/accept"' in page.text
    # Without the form token nothing is answered.
    r = await browser.post(f"/chat/invitations/{group_id}/accept", data={"csrf_token": "x"})
    assert r.status_code == 403
    token = csrf(chat.text)
    r = await browser.post(f"/chat/invitations/{group_id}/accept", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == group
    assert "@rhea joined" in (await browser.get(group)).text
    r = await browser.post(f"/chat/requests/{dm_id}/decline", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/chat"
    chat = await browser.get("/chat")
    assert "Message requests" not in chat.text and "Invitations" not in chat.text
    assert "Book club" in chat.text and "From @sami" not in chat.text
    r = await browser.post(f"/chat/requests/{dm_id}/accept", data={"csrf_token": token})
    assert r.status_code == 303  # a declined request may still be accepted
    assert 'id="send"' in (await browser.get(dm)).text

    # Someone who follows sami is added at once.
    await sign_up_fresh(browser, "tova")
    auth = {"Authorization": f"Bearer {browser.cookies.get('fh_access')}"}
    sami_id = (await browser.get("/api/v1/users/sami", headers=auth)).json()["id"]
    assert (await browser.put(f"/api/v1/users/{sami_id}/follow", headers=auth)).status_code == 200
    await login_as(browser, "sami")
    token = csrf((await browser.get(group)).text)
    r = await browser.post(f"{group}/people", data={"csrf_token": token, "username": "tova"})
    assert r.status_code == 303 and r.headers["location"] == f"{group}?added=tova"
    page = (await browser.get(r.headers["location"])).text
    assert "@tova is in the chat now." in page and "(invited)" not in page
    assert '<a href="/u/tova">@tova</a>' in page


async def test_a_taken_username_or_email_keeps_the_signup_form(browser):
    await sign_up(browser, "taken")
    browser.cookies.clear()
    page = await browser.get("/signup")
    r = await browser.post("/signup", data={
        "csrf_token": csrf(page.text), "email": "fresh@example.org", "full_name": "Fresh Person",
        "username": "taken", "password": "a secret passphrase"})
    assert r.status_code == 409 and "text/html" in r.headers["content-type"]
    assert 'id="username-error"' in r.text and "This username is taken" in r.text
    assert 'aria-invalid="true"' in r.text
    assert 'value="fresh@example.org"' in r.text and 'value="Fresh Person"' in r.text
    assert 'value="taken"' in r.text
    assert "a secret passphrase" not in r.text  # the password is never sent back
    r = await browser.post("/signup", data={
        "csrf_token": csrf(page.text), "email": "TAKEN@example.org", "full_name": "Other",
        "username": "other_name", "password": "a secret passphrase"})
    assert r.status_code == 409
    assert 'id="email-error"' in r.text and "already exists" in r.text
    assert 'value="other_name"' in r.text and 'value="TAKEN@example.org"' in r.text
    assert "fh_access" not in browser.cookies


async def test_every_password_form_states_the_server_s_rule(browser):
    """The signup, reset and account pages ask for the length the server enforces."""
    from focushub.core.schemas import Password

    rule = next(m for m in Password.__metadata__ if hasattr(m, "min_length"))
    least = rule.min_length
    pages = [(await browser.get("/signup")).text,
             (await browser.get("/password-reset?token=" + "t" * 20)).text]
    await sign_up(browser, "rules")
    pages.append((await browser.get("/settings/account")).text)
    for html in pages:
        assert re.findall(r'minlength="(\d+)"', html), "a password field with a minimum"
        assert set(re.findall(r'minlength="(\d+)"', html)) == {str(least)}
        assert f"At least {least} characters" in html
    # A password of exactly that length is accepted by the page's server as well.
    browser.cookies.clear()
    page = await browser.get("/signup")
    r = await browser.post("/signup", data={
        "csrf_token": csrf(page.text), "email": "short@example.org", "full_name": "Short",
        "username": "short", "password": "x" * least})
    assert r.status_code == 303


async def test_signed_in_pages_are_never_stored_by_the_browser(browser):
    """Back after logging out must not show a signed-in page from the browser's cache."""
    anonymous = await browser.get("/questions")
    assert "no-store" not in anonymous.headers.get("cache-control", "")  # public: as before
    await sign_up(browser, "cachy")
    for path in ("/", "/questions", "/settings/profile", "/settings/account", "/notifications",
                 "/chat", "/notifications/badge"):
        r = await browser.get(path)
        assert r.status_code == 200, path
        assert r.headers.get("cache-control") == "no-store", path
    home = await browser.get("/")
    r = await browser.post("/logout", data={"csrf_token": csrf(home.text)})
    assert r.status_code == 303 and r.headers.get("cache-control") == "no-store"
    after = await browser.get("/questions")
    assert "no-store" not in after.headers.get("cache-control", "")


async def test_blank_comments_answers_and_group_names_are_said_on_the_page(browser):
    await sign_up(browser, "blanky")
    post_url = await new_post(browser, "Blank test", "Some text.")
    page = await browser.get(post_url)
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": csrf(page.text),
                                                         "content": "   "})
    assert r.status_code == 303
    shown = await browser.get(r.headers["location"])
    assert 'role="alert"' in shown.text and "Your comment was not posted: it was empty" in shown.text
    assert "it was empty" not in (await browser.get(post_url)).text

    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": csrf(ask.text),
                                                   "title": "Why is the sky blue?",
                                                   "content": "Rayleigh?"})
    q_url = r.headers["location"]
    r = await browser.post(f"{q_url}/answers", data={"csrf_token": csrf(ask.text),
                                                     "content": " \n "})
    assert r.status_code == 303
    shown = await browser.get(r.headers["location"])
    assert 'id="answer-error"' in shown.text and "Your answer was not posted" in shown.text
    assert 'aria-invalid="true" aria-describedby="answer-error"' in shown.text

    chat = await browser.get("/chat")
    r = await browser.post("/chat", data={"csrf_token": csrf(chat.text), "name": "  "})
    assert r.status_code == 303
    shown = await browser.get(r.headers["location"])
    assert 'id="chat-group-error"' in shown.text and "give it a name" in shown.text
    assert "give it a name" not in (await browser.get("/chat")).text


async def upload(browser: httpx.AsyncClient, title: str, is_public: bool = True,
                 content: bytes = b"plain notes\n", name: str = "notes.txt",
                 content_type: str = "text/plain") -> str:
    """A text resource uploaded through the form; its page's path."""
    form = await browser.get("/resources/new")
    data = {"csrf_token": csrf(form.text), "title": title}
    if is_public:
        data["is_public"] = "true"
    r = await browser.post("/resources/new", data=data,
                           files={"file": (name, content, content_type)})
    assert r.status_code == 303, r.text
    return r.headers["location"]


async def test_resources_page_on_and_my_resources_show_private_ones(browser):
    await sign_up(browser, "uploader")
    for n in range(3):
        await upload(browser, f"Public notes {n}")
    secret = await upload(browser, "Secret notes", is_public=False)
    listing = await browser.get("/resources?limit=2")
    assert listing.text.count('class="card"') == 2
    more = re.search(r'<li class="more">\s*<a href="(/resources\?[^"]+)"', listing.text)
    assert more, "a link to the next page"
    second = await browser.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and "limit=2" in more.group(1)
    titles = re.findall(r'class="title" href="/resources/[^"]+">([^<]+)<', listing.text + second.text)
    assert sorted(titles) == ["Public notes 0", "Public notes 1", "Public notes 2"]
    assert "Secret notes" not in listing.text + second.text  # public list only
    # The signed-in user finds their own, the private one too, from a link on the page.
    assert 'href="/resources?mine=true"' in listing.text
    mine = await browser.get("/resources?mine=true")
    assert mine.status_code == 200 and "<h1>My resources</h1>" in mine.text
    assert f'href="{secret}"' in mine.text and "private" in mine.text
    # Signed out there is nothing of one's own: the login, then back here.
    browser.cookies.clear()
    r = await browser.get("/resources?mine=true")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fresources%3Fmine%3Dtrue"
    assert 'href="/resources?mine=true"' not in (await browser.get("/resources")).text


async def test_the_resources_page_sorts_by_name_and_by_size(browser):
    await sign_up(browser, "librarian")
    for title, size in (("beta notes", 30), ("Alpha notes", 10), ("gamma notes", 20)):
        await upload(browser, title, content=b"x" * size)
    by_name = await browser.get("/resources?sort=name")
    assert by_name.status_code == 200
    assert '<option value="name" selected>' in by_name.text
    titles = re.findall(r'class="title" href="/resources/[^"]+">([^<]+)<', by_name.text)
    assert titles == ["Alpha notes", "beta notes", "gamma notes"]
    by_size = await browser.get("/resources?sort=size")
    titles = re.findall(r'class="title" href="/resources/[^"]+">([^<]+)<', by_size.text)
    assert titles == ["beta notes", "gamma notes", "Alpha notes"]


async def test_the_owner_downloads_and_previews_a_private_resource_from_its_page(browser):
    import asyncio

    from tests.api.files_support import png

    await sign_up(browser, "keeper")
    image = png((64, 48))
    path = await upload(browser, "My diagram", is_public=False, content=image,
                        name="diagram.png", content_type="image/png")
    rt = browser.app.state.runtime  # type: ignore[attr-defined]
    await asyncio.wait_for(rt.jobs.run_worker(rt, wait=False), 60)  # makes the preview
    shown = await browser.get(path)
    download = re.search(r'<a class="button" href="([^"]+)" download>', shown.text).group(1)
    preview = re.search(r'<img class="preview" src="([^"]+)"', shown.text).group(1)
    assert download == f"{path}/file" and preview == f"{path}/preview"  # the session's routes
    r = await browser.get(download)
    assert r.status_code == 200 and r.content == image
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["etag"] and r.headers["content-disposition"].startswith("inline")
    assert r.headers["cache-control"] == "private, no-cache"
    again = await browser.get(download, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    part = await browser.get(download, headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == image[:4]
    r = await browser.get(preview)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    # Private: nobody else gets it, signed in or not.
    await sign_up_fresh(browser, "peeker")
    for url in (path, download, preview):
        assert (await browser.get(url)).status_code == 404, url
    browser.cookies.clear()
    for url in (download, preview):
        assert (await browser.get(url)).status_code == 404, url


def _location_path(r: httpx.Response) -> str:
    """A redirect's target without its fragment (which a browser keeps to itself)."""
    assert r.status_code == 303, r.text
    return r.headers["location"].split("#", 1)[0]


async def test_every_comment_and_reply_of_a_busy_post_can_be_reached(open_site):
    browser = open_site
    await sign_up(browser, "talker")
    post_url = await new_post(browser, "Busy post", "Everyone comments.")
    token = csrf((await browser.get(post_url)).text)
    ids = []
    for n in range(21):
        r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                             "content": f"Comment number {n}"})
        ids.append(r.headers["location"].rsplit("comment-", 1)[1])
    first = await browser.get(post_url)
    assert "Comment number 19" in first.text and "Comment number 20" not in first.text
    more = re.search(r'<li class="more"><a href="([^"]+)"', first.text)
    assert more and "Show more comments" in first.text
    later = await browser.get(more.group(1).split("#")[0])
    assert "Comment number 20" in later.text and "Comment number 0<" not in later.text
    assert 'href="/posts/' in later.text and "Show comments from the start" in later.text
    # The 21st comment's redirect lands on a page that shows it.
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                         "content": "The newest one"})
    newest = r.headers["location"].rsplit("comment-", 1)[1]
    shown = await browser.get(_location_path(r))
    assert f'id="comment-{newest}"' in shown.text and "The newest one" in shown.text

    # Five replies to the first comment: three shown under it, a link to all of them.
    for n in range(5):
        r = await browser.post(f"{post_url}/comments", data={
            "csrf_token": token, "content": f"Reply number {n}", "parent_id": ids[0]})
    first = await browser.get(post_url)
    assert "Reply number 2" in first.text and "Reply number 3" not in first.text
    thread = f"{post_url}/comments/{ids[0]}"
    assert f'<a href="{thread}"' in first.text and "2 more replies" in first.text
    replies = await browser.get(thread)
    assert replies.status_code == 200
    assert all(f"Reply number {n}" in replies.text for n in range(5))
    assert "Comment number 1<" not in replies.text
    # The last reply's redirect ends where it is shown: under "more replies", in its thread.
    last_reply = r.headers["location"].rsplit("comment-", 1)[1]
    r = await browser.get(_location_path(r))
    assert r.status_code == 303 and r.headers["location"].startswith(thread)
    r = await browser.get(_location_path(r))
    assert r.status_code == 200 and f'id="comment-{last_reply}"' in r.text
    # Liking a later comment, or a reply shown only in its thread, comes back to where it is.
    comment_back = f"/posts/{post_url.rsplit('/', 1)[1]}?comment={ids[20]}#comment-{ids[20]}"
    assert f'name="back" value="{comment_back}"' in later.text
    await sign_up_fresh(browser, "liker")
    token = csrf((await browser.get(post_url)).text)
    r = await browser.post(f"/vote/comment/{ids[20]}", data={
        "csrf_token": token, "vote_type": "upvote", "back": comment_back})
    back = await browser.get(_location_path(r))
    assert f'id="comment-{ids[20]}"' in back.text
    backs = re.findall(r'name="back" value="([^"]+)"', (await browser.get(thread)).text)
    reply_back = next(b for b in backs if f"comment={last_reply}" in b).replace("&amp;", "&")
    assert f"thread={ids[0]}" in reply_back
    r = await browser.get(reply_back.split("#")[0])
    r = await browser.get(_location_path(r))
    assert f'id="comment-{last_reply}"' in r.text
    # A comment id of another post shows nothing of it.
    other = await new_post(browser, "Quiet post", "Nobody comments.")
    assert (await browser.get(f"{other}/comments/{ids[0]}")).status_code == 404


async def test_every_answer_of_a_busy_question_can_be_reached(open_site):
    browser = open_site
    await sign_up(browser, "asker")
    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": csrf(ask.text),
                                                   "title": "Name your favourite prime",
                                                   "content": "Any will do."})
    q_url = r.headers["location"]
    token = csrf(ask.text)
    for n in range(51):  # one more than the question page holds
        r = await browser.post(f"{q_url}/answers", data={"csrf_token": token,
                                                         "content": f"Answer number {n}."})
        assert r.status_code == 303
    last = r.headers["location"].rsplit("answer-", 1)[1]
    first = await browser.get(q_url)
    assert first.text.count('class="answer') == 50 and "Answer number 50." not in first.text
    more = re.search(r'<p class="more"><a href="([^"]+)"', first.text)
    assert more and "Show more answers" in first.text
    later = await browser.get(more.group(1).split("#")[0])
    assert later.status_code == 200 and "Answer number 50." in later.text
    assert "Answer number 0." not in later.text and "Show the answers from the start" in later.text
    # The newest answer's redirect lands on the page that shows it.
    shown = await browser.get(_location_path(r))
    assert f'id="answer-{last}"' in shown.text
    # Voting on it comes back to the page that shows it.
    back = f"{q_url}?answer={last}#answer-{last}"
    assert f'name="back" value="{back}"' in shown.text
    await sign_up_fresh(browser, "voter")
    token = csrf((await browser.get(q_url)).text)
    r = await browser.post(f"/vote/answer/{last}", data={"csrf_token": token,
                                                        "vote_type": "downvote", "back": back})
    assert f'id="answer-{last}"' in (await browser.get(_location_path(r))).text


async def test_notifications_link_to_their_subject_and_previews_show_no_markdown(browser):
    await sign_up(browser, "mona")
    post_url = await new_post(browser, "Vector notes",
                              "**Bold** claim about [vectors](https://example.org/v) and `code`.")
    post_id = post_url.rsplit("/", 1)[1]
    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": csrf(ask.text),
                                                   "title": "Why do vectors add?",
                                                   "content": "Is it *really* that simple?"})
    q_url = r.headers["location"]
    feed = await browser.get("/")
    assert "Bold claim about vectors and code." in feed.text
    assert "**Bold**" not in feed.text and "](https://example.org/v)" not in feed.text
    questions = await browser.get("/questions")
    assert "Is it really that simple?" in questions.text and "*really*" not in questions.text
    found = await browser.get("/search", params={"q": "claim"})
    assert "<mark>claim</mark>" in found.text and "**Bold**" not in found.text

    await sign_up_fresh(browser, "nils")
    page = await browser.get(post_url)
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": csrf(page.text),
                                                         "content": "Nice **work**, thanks"})
    comment_id = r.headers["location"].rsplit("comment-", 1)[1]
    await browser.post(f"{q_url}/answers", data={"csrf_token": csrf(page.text),
                                                 "content": "Because of the _axioms_."})
    await browser.post("/u/mona/follow", data={"csrf_token": csrf(page.text)})

    await login_as(browser, "mona")
    notes = (await browser.get("/notifications")).text
    # Unread, each links through /notifications/<id>/open, which marks it read on the way.
    notes = re.sub(r'href="/notifications/[0-9a-f-]{36}/open\?to=([^"]+)"',
                   lambda m: f'href="{unquote(m.group(1))}"', notes)
    assert f'href="/posts/{post_id}?comment={comment_id}#comment-{comment_id}"' in notes
    assert re.search(rf'href="{q_url}\?answer=[0-9a-f-]{{36}}#answer-[0-9a-f-]{{36}}"', notes)
    assert 'href="/u/nils"' in notes
    assert "Nice work, thanks" in notes and "**work**" not in notes


async def test_the_admin_page_shows_a_suspension_and_lifts_it(browser, test_db):
    await sign_up(browser, "tara")
    tara = await _user_id(test_db, "tara")
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE users SET suspended_until = now() + interval '2 days'"
                           " WHERE id = $1", tara)
    finally:
        await conn.close()
    browser.cookies.clear()
    await sign_up(browser, "uma")
    await make_admin(test_db, "uma")
    await login_as(browser, "uma")
    page = await browser.get("/admin", params={"q": "tara"})
    assert "suspended until" in page.text and "Lift suspension" in page.text
    r = await browser.post(f"/admin/users/{tara}", data={
        "csrf_token": csrf(page.text), "is_active": "true", "reason": "Served the time"})
    assert r.status_code == 303
    page = await browser.get("/admin", params={"q": "tara"})
    assert "suspended until" not in page.text and "Lift suspension" not in page.text
    # The audit log says what changed as JSON, not as a Python dict.
    assert '"suspended_until": ["' in page.text and "null]" in page.text
    assert "{'suspended_until'" not in page.text and "None]" not in page.text
    # ...and who did it to whom, by name.
    assert 'by <a href="/u/uma">@uma</a> · <a href="/u/tara">@tara</a>' in page.text
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        assert await conn.fetchval("SELECT suspended_until FROM users WHERE id = $1", tara) is None
    finally:
        await conn.close()


def test_counts_are_said_in_the_singular_for_one():
    from focushub.web.kit import counted

    assert [counted(n, "answer") for n in (0, 1, 2, 1500)] == [
        "0 answers", "1 answer", "2 answers", "1,500 answers"]


async def test_the_header_leads_to_one_s_profile_and_settings_and_a_newcomer_is_welcomed(browser):
    await sign_up(browser, "vera")
    r = await browser.get("/?welcome=1")
    assert "Welcome to Focus Hub" in r.text and "confirm your email" in r.text
    assert 'href="/me">Profile</a>' in r.text and 'href="/settings/profile">Settings</a>' in r.text
    r = await browser.get("/me")
    assert r.status_code == 303 and r.headers["location"] == "/u/vera"
    assert (await browser.get("/u/vera")).status_code == 200
    browser.cookies.clear()
    r = await browser.get("/me")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert "Welcome to Focus Hub" not in (await browser.get("/?welcome=1")).text


async def test_a_system_message_is_not_signed_by_the_person_it_names(browser):
    await sign_up(browser, "wes")
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post("/chat", data={"csrf_token": token, "name": "Study group"})
    assert r.status_code == 303
    room = await browser.get(r.headers["location"])
    system = re.search(r'<li [^>]*data-type="system"[^>]*>\s*<span class="who">([^<]*)</span>\s*'
                       r'<span class="text">([^<]*)</span>', room.text)
    assert system is not None, room.text
    assert system.group(1) == "" and "@wes" in system.group(2)


async def test_the_first_page_of_answers_is_not_called_later_answers(browser):
    await sign_up(browser, "prime")
    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": csrf(ask.text),
                                                   "title": "Is one a prime number?",
                                                   "content": "Asking for a friend."})
    q_url = r.headers["location"]
    await sign_up_fresh(browser, "euclid")
    token = csrf((await browser.get(q_url)).text)
    r = await browser.post(f"{q_url}/answers", data={"csrf_token": token,
                                                     "content": "No: a prime has two divisors."})
    answered = _location_path(r)  # ?answer=<id>, an answer of the first page
    for url in (q_url, answered):
        shown = await browser.get(url)
        assert "No: a prime has two divisors." in shown.text, url
        assert "Later answers" not in shown.text, url
        assert "Show the answers from the start" not in shown.text, url


async def test_the_search_and_resource_filter_forms_work_with_their_any_choice(browser):
    """Both forms send every field; their first choice ("Any", "Posts, questions and
    resources") is an empty value, which means no filter."""
    await sign_up(browser, "filterer")
    await new_post(browser, "Eigenvalues by hand", "Characteristic polynomial first.")
    page = await browser.get("/resources/new")
    r = await browser.post("/resources/new", data={"csrf_token": csrf(page.text),
                                                   "title": "Eigen notes", "is_public": "true"},
                           files={"file": ("eigen.txt", b"Eigenvalues and eigenvectors", "text/plain")})
    assert r.status_code == 303
    assert '<option value="">Posts, questions and resources</option>' in \
        (await browser.get("/search")).text
    found = await browser.get("/search", params={"q": "eigenvalues", "type": ""})
    assert found.status_code == 200 and "Eigenvalues by hand" in found.text
    assert '<option value="">Any</option>' in (await browser.get("/resources")).text
    for query in ({"type": "", "sort": "newest"}, {"mine": "true", "type": "", "sort": "downloads"}):
        listed = await browser.get("/resources", params=query)
        assert listed.status_code == 200 and "Eigen notes" in listed.text, query
    # A value that is not one of the choices is still refused.
    assert (await browser.get("/resources", params={"type": "sculpture"})).status_code == 422
    assert (await browser.get("/search", params={"q": "x", "type": "poem"})).status_code == 422


async def test_an_error_page_keeps_the_signed_in_header_and_is_not_cached(browser):
    await sign_up(browser, "lost")
    for path, status in (("/posts/7d3f6a10-0c59-4a0e-9d7e-2b8f4d1e6c22", 404), ("/admin", 403),
                         ("/no/such/page", 404)):
        r = await browser.get(path)
        assert r.status_code == status, path
        assert "Log out" in r.text and 'href="/me">Profile</a>' in r.text, path
        assert 'href="/login"' not in r.text, path
        assert r.headers["cache-control"] == "no-store", path
    browser.cookies.delete("fh_access")
    browser.cookies.delete("fh_refresh")
    r = await browser.get("/no/such/page")
    assert r.status_code == 404 and 'href="/login"' in r.text and "Log out" not in r.text


async def test_no_vote_buttons_on_one_s_own_post_comment_question_or_answer(browser):
    """The database refuses a vote on one's own (409): the page shows the count alone."""
    await sign_up(browser, "selfie")
    post_url = await new_post(browser, "My own notes", "Nobody else's.")
    token = csrf((await browser.get(post_url)).text)
    await browser.post(f"{post_url}/comments", data={"csrf_token": token, "content": "Mine too"})
    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Why is the sky blue?",
                                                   "content": "Rayleigh?"})
    q_url = r.headers["location"]
    await browser.post(f"{q_url}/answers", data={"csrf_token": csrf(ask.text),
                                                 "content": "Scattering, I think."})
    for url in (post_url, q_url):
        own = await browser.get(url)
        assert own.text.count('<form method="post" action="/vote/') == 2, url
        assert 'name="vote_type"' not in own.text, url
    # The count says what it counts when no button stands beside it.
    assert (await browser.get(post_url)).text.count('<span class="count">0 likes</span>') == 2
    assert (await browser.get(q_url)).text.count('<span class="count">Score 0</span>') == 2
    await sign_up_fresh(browser, "other")
    post = await browser.get(post_url)
    assert post.text.count('aria-label="Like"') == 2  # the post and its comment
    question = await browser.get(q_url)
    assert question.text.count('aria-label="Vote up"') == 2
    assert question.text.count('aria-label="Vote down"') == 2


async def test_a_refused_profile_keeps_what_was_typed_and_says_why_by_the_field(browser):
    await sign_up(browser, "ines")
    token = csrf((await browser.get("/settings/profile")).text)
    r = await browser.post("/settings/profile", data={"csrf_token": token, "full_name": "   ",
                                                      "bio": "I like number theory"})
    assert r.status_code == 422
    assert ">I like number theory</textarea>" in r.text
    assert 'aria-invalid="true" aria-describedby="full_name-error"' in r.text
    assert '<p class="error" id="full_name-error">Enter your name' in r.text
    long_bio = "Primes. " * 300  # 2,400 characters: more than a bio holds
    r = await browser.post("/settings/profile", data={"csrf_token": token, "full_name": "Ines R.",
                                                      "bio": long_bio})
    assert r.status_code == 422
    assert 'value="Ines R."' in r.text and f">{long_bio}</textarea>" in r.text
    assert '<p class="error" id="bio-error">' in r.text and "full_name-error" not in r.text
    # The form allows what the server allows: a bio of 1,500 characters is kept whole.
    assert 'maxlength="2000"' in r.text
    r = await browser.post("/settings/profile", data={"csrf_token": token, "full_name": "Ines R.",
                                                      "bio": long_bio[:1500]})
    assert r.status_code == 303
    assert f">{long_bio[:1500]}</textarea>" in (await browser.get("/settings/profile")).text


async def test_one_comment_follower_download_and_byte_are_said_in_the_singular(browser):
    await sign_up(browser, "uno")
    post_url = await new_post(browser, "Singular", "One of each.")
    token = csrf((await browser.get(post_url)).text)
    await browser.post(f"{post_url}/comments", data={"csrf_token": token, "content": "Only one"})
    assert "· 1 comment<" in (await browser.get(post_url)).text
    page = await browser.get("/resources/new")
    r = await browser.post("/resources/new", data={"csrf_token": csrf(page.text), "title": "A",
                                                   "is_public": "true"},
                           files={"file": ("a.txt", b"a", "text/plain")})
    resource = r.headers["location"]
    await sign_up_fresh(browser, "duo")
    token = csrf((await browser.get("/u/uno")).text)
    await browser.post("/u/uno/follow", data={"csrf_token": token})
    assert "1 follower</a> ·" in (await browser.get("/u/uno")).text
    assert (await browser.get(f"{resource}/file")).status_code == 200
    shown = await browser.get(resource)
    assert "· 1 download" in shown.text and "1 downloads" not in shown.text
    assert "(1 byte, text/plain" in shown.text
    assert "· 1 download ·" in (await browser.get("/resources")).text


def _people(html: str) -> str:
    people = html[html.index('<ul class="people"'):]
    return people[:people.index("</ul>")]


async def test_leaving_a_group_and_removing_someone_from_it(browser):
    await sign_up(browser, "gia")
    await sign_up_fresh(browser, "hal")  # follows gia: put straight into her groups
    token = csrf((await browser.get("/u/gia")).text)
    await browser.post("/u/gia/follow", data={"csrf_token": token})
    await login_as(browser, "gia")
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post("/chat", data={"csrf_token": token, "name": "Number theory"})
    room_url = r.headers["location"]
    room_id = room_url.rsplit("/", 1)[1]
    r = await browser.post(f"{room_url}/people", data={"csrf_token": token, "username": "hal"})
    assert r.status_code == 303
    shown = await browser.get(room_url)
    # The group's admin may remove hal (not herself) and leave.
    people = _people(shown.text)
    assert people.count("Remove<span") == 1 and "Remove<span class=\"visually-hidden\"> @hal" in people
    assert "Leave this group" in shown.text
    hal_id = re.search(r'data-user="([0-9a-f-]{36})" data-username="hal"', people).group(1)

    await login_as(browser, "hal")
    shown = await browser.get(room_url)
    token = csrf(shown.text)
    assert "Remove<span" not in _people(shown.text)  # a member removes nobody
    fragment = await browser.get(f"{room_url}/people", headers={"HX-Request": "true"})
    assert "Remove<span" not in fragment.text
    r = await browser.post(f"{room_url}/people/{hal_id}/remove", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/chat?left=1"
    listing = await browser.get(r.headers["location"])
    assert "You left the group." in listing.text and f"/chat/{room_id}" not in listing.text
    assert (await browser.get(room_url)).status_code == 404

    await login_as(browser, "gia")
    token = csrf((await browser.get(room_url)).text)
    assert '@hal' not in _people((await browser.get(room_url)).text)
    await browser.post(f"{room_url}/people", data={"csrf_token": token, "username": "hal"})
    r = await browser.post(f"{room_url}/people/{hal_id}/remove",
                           data={"csrf_token": token, "username": "hal"})
    assert r.status_code == 303 and r.headers["location"] == f"{room_url}?removed=hal"
    shown = await browser.get(r.headers["location"])
    assert "@hal is no longer in the chat." in shown.text and "@hal" not in _people(shown.text)
    await login_as(browser, "hal")
    assert f"/chat/{room_id}" not in (await browser.get("/chat")).text
    # A direct chat offers neither.
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post("/chat", data={"csrf_token": token, "username": "gia"})
    direct = await browser.get(r.headers["location"])
    assert "Leave this group" not in direct.text and "Remove<span" not in direct.text


@pytest.fixture
async def limited(test_db, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``browser``, with the write limits of new accounts on."""
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        data_dir=tmp_path, write_limits_enabled=True)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.6", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.runtime.stop()


async def test_a_rate_limited_post_question_comment_or_answer_keeps_its_text(limited):
    """A new account's hourly allowance (5 posts, 5 questions, 20 comments, 20 answers) runs
    out: what was written comes back with the reason and when to try again, never lost."""
    browser = limited
    await sign_up(browser, "eager")
    token = csrf((await browser.get("/posts/new")).text)
    for n in range(5):
        post_url = await new_post(browser, f"Note {n}", f"Thought number {n}.")
    r = await browser.post("/posts/new", data={"csrf_token": token, "title": "One more",
                                               "content": "A long text I do not want to lose."})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "A long text I do not want to lose.</textarea>" in r.text
    assert 'value="One more"' in r.text and 'role="alert"' in r.text
    for n in range(5):
        r = await browser.post("/questions/ask", data={"csrf_token": token, "title": f"Q {n}?",
                                                       "content": f"Question body {n}."})
        assert r.status_code == 303
    q_url = r.headers["location"]
    r = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Sixth?",
                                                   "content": "Carefully written details."})
    assert r.status_code == 429 and "Carefully written details.</textarea>" in r.text

    for n in range(20):
        r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                             "content": f"Comment {n}"})
        assert r.status_code == 303
        r = await browser.post(f"{q_url}/answers", data={"csrf_token": token,
                                                         "content": f"Answer {n}"})
        assert r.status_code == 303
    comment_id = re.search(r'id="comment-([0-9a-f-]{36})"', (await browser.get(post_url)).text)[1]
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                         "content": "My considered comment"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Your comment was not posted" in r.text
    assert ">My considered comment</textarea>" in r.text
    assert f'action="{post_url}/comments"' in r.text and 'name="parent_id"' not in r.text
    assert f'href="{post_url}#comments"' in r.text
    r = await browser.post(f"{post_url}/comments", data={
        "csrf_token": token, "content": "My considered reply", "parent_id": comment_id})
    assert r.status_code == 429 and "Your reply was not posted" in r.text
    assert f'<input type="hidden" name="parent_id" value="{comment_id}">' in r.text
    assert ">My considered reply</textarea>" in r.text
    r = await browser.post(f"{q_url}/answers", data={"csrf_token": token,
                                                     "content": "My careful answer"})
    assert r.status_code == 429 and "Your answer was not posted" in r.text
    assert ">My careful answer</textarea>" in r.text and f'action="{q_url}/answers"' in r.text


async def test_a_refused_chat_message_sent_without_javascript_keeps_its_text(limited):
    browser = limited
    await sign_up(browser, "chatty")
    token = csrf((await browser.get("/chat")).text)
    room_url = (await browser.post("/chat", data={"csrf_token": token,
                                                  "name": "Quiet room"})).headers["location"]
    for n in range(20):  # a new account's messages in a minute
        r = await browser.post(room_url, data={"csrf_token": token, "content": f"Line {n}"})
        assert r.status_code == 303
    r = await browser.post(room_url, data={"csrf_token": token, "content": "The point I wanted"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Your message was not sent" in r.text and ">The point I wanted</textarea>" in r.text
    assert f'action="{room_url}"' in r.text and f'href="{room_url}#end"' in r.text


async def test_every_account_and_audit_entry_is_reachable_from_the_admin_page(browser, test_db):
    names = [f"member{n:02d}" for n in range(21)]
    for name in names:
        await sign_up_fresh(browser, name)
    await sign_up_fresh(browser, "boss")
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE username = 'boss'")
    finally:
        await conn.close()
    await login_as(browser, "boss")
    first = await browser.get("/admin")
    token = csrf(first.text)
    more = re.search(r'<p class="more"><a href="([^"]+)">More people</a>', first.text)
    assert more, "22 accounts: the first page holds 20"
    later = await browser.get(more.group(1).replace("&amp;", "&").split("#")[0])
    assert later.status_code == 200 and "Show the newest" in later.text
    shown = {m for page in (first, later) for m in re.findall(r'href="/u/(member\d\d)"', page.text)}
    assert shown == set(names)
    # A search keeps its words on the next page.
    found = await browser.get("/admin", params={"q": "member"})
    more = re.search(r'<a href="([^"]+)">More people</a>', found.text).group(1).replace("&amp;", "&")
    assert "q=member" in more
    found_later = await browser.get(more.split("#")[0])
    assert {*re.findall(r'href="/u/(member\d\d)"', found.text),
            *re.findall(r'href="/u/(member\d\d)"', found_later.text)} == set(names)

    ids = re.findall(r'action="/admin/users/([0-9a-f-]{36})/end-sessions"',
                     first.text + later.text)
    assert len(ids) == 21  # everyone but boss
    for user_id in ids:
        r = await browser.post(f"/admin/users/{user_id}/end-sessions",
                               data={"csrf_token": token, "reason": "Check"})
        assert r.status_code == 303
    audit = await browser.get("/admin", params={"action": "user."})
    older = re.search(r'<li class="more"><a href="([^"]+)">Older entries</a>', audit.text)
    assert older and "action=user." in older.group(1)
    older_page = await browser.get(older.group(1).replace("&amp;", "&").split("#")[0])
    assert older_page.status_code == 200 and "Show the latest" in older_page.text
    entries = audit.text.split('id="audit"', 1)[1].count('<li class="card">') + \
        older_page.text.split('id="audit"', 1)[1].count('<li class="card">')
    assert entries >= 21


async def test_the_owner_edits_and_deletes_a_resource_from_its_page(browser):
    await sign_up(browser, "owner")
    page = await browser.get("/resources/new")
    token = csrf(page.text)
    r = await browser.post("/resources/new", data={"csrf_token": token, "title": "Draft notes",
                                                   "description": "Rough", "tags": "calculus",
                                                   "is_public": "true"},
                           files={"file": ("notes.txt", b"limits and series", "text/plain")})
    url = r.headers["location"]
    shown = await browser.get(url)
    assert f'href="{url}/edit"' in shown.text
    form = await browser.get(f"{url}/edit")
    assert form.status_code == 200 and 'value="Draft notes"' in form.text
    assert ">Rough</textarea>" in form.text and 'value="calculus"' in form.text
    # A refused edit keeps what was typed.
    r = await browser.post(f"{url}/edit", data={"csrf_token": token, "title": " ",
                                                "description": "Better words"})
    assert r.status_code == 422 and ">Better words</textarea>" in r.text
    # Saved private (the box unticked): gone from the public list, still the owner's.
    r = await browser.post(f"{url}/edit", data={"csrf_token": token, "title": "Series notes",
                                                "description": "Clean", "tags": "calculus, series"})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?saved=1"
    shown = await browser.get(r.headers["location"])
    assert "Series notes" in shown.text and "private" in shown.text and "Saved." in shown.text
    assert "Series notes" not in (await browser.get("/resources")).text

    await sign_up_fresh(browser, "visitor")
    other_token = csrf((await browser.get("/resources")).text)
    assert (await browser.get(url)).status_code == 404  # private now
    assert (await browser.get(f"{url}/edit")).status_code == 404
    r = await browser.post(f"{url}/delete", data={"csrf_token": other_token})
    assert r.status_code == 404

    await login_as(browser, "owner")
    token = csrf((await browser.get(url)).text)
    r = await browser.post(f"{url}/delete", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/resources?mine=true&deleted=1"
    mine = await browser.get(r.headers["location"])
    assert "The resource is deleted." in mine.text and "Series notes" not in mine.text
    assert (await browser.get(url)).status_code == 404


async def test_someone_else_s_public_resource_has_no_edit_form(browser):
    await sign_up(browser, "sharer")
    page = await browser.get("/resources/new")
    r = await browser.post("/resources/new", data={"csrf_token": csrf(page.text), "title": "Shared",
                                                   "is_public": "true"},
                           files={"file": ("s.txt", b"shared text", "text/plain")})
    url = r.headers["location"]
    await sign_up_fresh(browser, "reader")
    token = csrf((await browser.get(url)).text)
    assert f'href="{url}/edit"' not in (await browser.get(url)).text
    assert (await browser.get(f"{url}/edit")).status_code == 403
    r = await browser.post(f"{url}/edit", data={"csrf_token": token, "title": "Mine now"})
    assert r.status_code == 403  # the database refuses: it is not theirs
    assert (await browser.post(f"{url}/delete", data={"csrf_token": token})).status_code == 403
    assert "Shared" in (await browser.get(url)).text


async def test_opening_a_notification_marks_it_read(browser):
    await sign_up(browser, "rosa")
    await sign_up_fresh(browser, "sam")
    token = csrf((await browser.get("/u/rosa")).text)
    await browser.post("/u/rosa/follow", data={"csrf_token": token})
    await login_as(browser, "rosa")
    assert 'aria-label="1 unread notification"' in (await browser.get("/notifications/badge")).text
    notes = (await browser.get("/notifications")).text
    opener = re.search(r'<a class="title" href="(/notifications/[0-9a-f-]{36}/open\?to=[^"]+)"',
                       notes).group(1)
    assert '<li class="card unread">' in notes
    r = await browser.get(opener.replace("&amp;", "&"))
    assert r.status_code == 303 and r.headers["location"] == "/u/sam"
    notes = (await browser.get("/notifications")).text
    assert '<li class="card unread">' not in notes and 'href="/u/sam"' in notes
    assert "unread" not in (await browser.get("/notifications/badge")).text
    # Only a path of this site is followed.
    r = await browser.get(opener.split("?")[0], params={"to": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_too_many_new_chats_is_said_on_the_chat_page_with_the_name_kept(limited):
    browser = limited
    await sign_up(browser, "friend")
    await sign_up_fresh(browser, "founder")
    token = csrf((await browser.get("/chat")).text)
    for n in range(3):  # a new account's new chats in an hour
        r = await browser.post("/chat", data={"csrf_token": token, "name": f"Group {n}"})
        assert r.status_code == 303
    r = await browser.post("/chat", data={"csrf_token": token, "name": "Linear algebra club"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "<h1>Chat</h1>" in r.text and 'role="alert"' in r.text and "new chats" in r.text
    assert 'value="Linear algebra club"' in r.text
    r = await browser.post("/chat", data={"csrf_token": token, "username": "friend"})
    assert r.status_code == 429 and 'value="friend"' in r.text


async def test_deleting_one_s_own_chat_message_from_the_room_page(browser):
    room_url = await _room_with(browser, "pia", "quin")
    token = csrf((await browser.get(room_url)).text)
    await browser.post(room_url, data={"csrf_token": token, "content": "Sent to the wrong room"})
    page = await browser.get(room_url)
    mine = re.search(r'<li id="m-(\d+)" class="message mine".*?</li>', page.text, re.S)
    assert "Sent to the wrong room" in mine.group(0)
    delete = re.search(r'<form method="post" action="(/chat/[^"]+/delete)" class="delete">',
                       mine.group(0)).group(1)
    assert page.text.count('class="delete"') == 1  # not under the system messages

    await login_as(browser, "quin")
    other = await browser.get(room_url)
    assert "Sent to the wrong room" in other.text and 'class="delete"' not in other.text
    r = await browser.post(delete, data={"csrf_token": csrf(other.text)})
    assert r.status_code == 403
    assert "Sent to the wrong room" in (await browser.get(room_url)).text

    await login_as(browser, "pia")
    r = await browser.post(delete, data={"csrf_token": csrf((await browser.get(room_url)).text)})
    assert r.status_code == 303 and r.headers["location"] == f"{room_url}#m-{mine.group(1)}"
    page = await browser.get(room_url)
    assert "Sent to the wrong room" not in page.text and "(message deleted)" in page.text
    assert 'class="delete"' not in page.text


async def test_one_deletes_one_s_own_post_question_comment_and_answer(browser):
    await sign_up(browser, "tidy")
    post_url = await new_post(browser, "Half-baked idea", "Not ready.")
    post_id = post_url.rsplit("/", 1)[1]
    token = csrf((await browser.get(post_url)).text)
    ask = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Asked too soon?",
                                                     "content": "Never mind."})
    q_url = ask.headers["location"]
    q_id = q_url.rsplit("/", 1)[1]
    await sign_up_fresh(browser, "guest")
    token = csrf((await browser.get(post_url)).text)
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                         "content": "A comment to take back"})
    comment_id = r.headers["location"].rsplit("comment-", 1)[1]
    r = await browser.post(f"{q_url}/answers", data={"csrf_token": token,
                                                     "content": "An answer to take back"})
    answer_id = r.headers["location"].rsplit("answer-", 1)[1]
    # Each sees Delete under their own only.
    post = await browser.get(post_url)
    assert f'action="/delete/comment/{comment_id}"' in post.text
    assert f'action="/delete/post/{post_id}"' not in post.text
    question = await browser.get(q_url)
    assert f'action="/delete/answer/{answer_id}"' in question.text
    assert f'action="/delete/question/{q_id}"' not in question.text
    for kind, target in (("post", post_id), ("question", q_id)):
        r = await browser.post(f"/delete/{kind}/{target}", data={"csrf_token": token})
        assert r.status_code == 403, kind
    r = await browser.post(f"/delete/comment/{comment_id}", data={
        "csrf_token": token, "back": f"/posts/{post_id}?removed=comment#comments"})
    assert r.status_code == 303
    post = await browser.get(r.headers["location"].split("#")[0])
    assert "Your comment is deleted." in post.text and "A comment to take back" not in post.text
    r = await browser.post(f"/delete/answer/{answer_id}", data={
        "csrf_token": token, "back": f"{q_url}?removed=answer#answers"})
    question = await browser.get(r.headers["location"].split("#")[0])
    assert "Your answer is deleted." in question.text
    assert "An answer to take back" not in question.text

    await login_as(browser, "tidy")
    post = await browser.get(post_url)
    token = csrf(post.text)
    assert 'name="back" value="/?removed=post"' in post.text
    r = await browser.post(f"/delete/post/{post_id}", data={"csrf_token": token,
                                                            "back": "/?removed=post"})
    assert r.status_code == 303 and "Your post is deleted." in (await browser.get("/?removed=post")).text
    assert (await browser.get(post_url)).status_code == 404
    r = await browser.post(f"/delete/question/{q_id}", data={
        "csrf_token": token, "back": "/questions?removed=question"})
    assert r.status_code == 303 and r.headers["location"] == "/questions?removed=question"
    assert "Your question is deleted." in (await browser.get(r.headers["location"])).text
    assert (await browser.get(q_url)).status_code == 404
    r = await browser.post(f"/delete/post/{post_id}", data={"csrf_token": token, "back": "//evil"})
    assert r.status_code == 404  # gone already


async def test_requests_that_renew_the_session_together_do_not_end_it(browser):
    """A page and the header's badge (or two tabs) sent once the access cookie expired each
    rotated the refresh cookie; the second rotation presented a spent token, which ends the
    whole session as stolen: the person was logged out, the first answer's new cookies
    refused (401) as well."""
    await sign_up(browser, "rita")
    old = {name: browser.cookies[name] for name in ("fh_refresh", "fh_csrf")}
    browser.cookies.clear()

    async def with_expired_access(path: str) -> httpx.Response:
        request = browser.build_request("GET", path, headers={"Cookie": "; ".join(
            [f"{k}={v}" for k, v in old.items()] + ["fh_access=expired"])})
        return await browser.send(request)

    badge, settings = await asyncio.gather(with_expired_access("/notifications/badge"),
                                           with_expired_access("/settings/profile"))
    assert badge.status_code == 200 and settings.status_code == 200, settings.headers
    renewed = [{c.split("=", 1)[0]: c.split(";")[0].split("=", 1)[1]
                for c in r.headers.get_list("set-cookie")} for r in (badge, settings)]
    assert renewed[0]["fh_access"] == renewed[1]["fh_access"]
    assert renewed[0]["fh_refresh"] == renewed[1]["fh_refresh"] != old["fh_refresh"]
    browser.cookies.update({"fh_access": renewed[0]["fh_access"],
                            "fh_refresh": renewed[0]["fh_refresh"], "fh_csrf": old["fh_csrf"]})
    r = await browser.get("/settings/profile")
    assert r.status_code == 200 and "Log out" in r.text


async def test_a_renewal_raced_by_another_process_keeps_the_session(browser):
    """The same refresh cookie renewed by another server process a moment ago (each process
    shares its own rotations only): the page is served signed out and the cookies are left
    alone, not cleared, and the session the other process renewed goes on (0052)."""
    await sign_up(browser, "rosa")
    old = {name: browser.cookies[name] for name in ("fh_refresh", "fh_csrf")}
    other = await browser.post("/api/v1/auth/refresh", json={"refresh_token": old["fh_refresh"]})
    assert other.status_code == 200, other.text  # "the other process"
    browser.cookies.clear()
    request = browser.build_request("GET", "/settings/profile", headers={"Cookie": "; ".join(
        [f"{k}={v}" for k, v in old.items()] + ["fh_access=expired"])})
    r = await browser.send(request)
    assert not [c for c in r.headers.get_list("set-cookie") if c.startswith("fh_refresh=")]
    r = await browser.post("/api/v1/auth/refresh",
                           json={"refresh_token": other.json()["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_back_and_next_lead_only_to_this_site(browser):
    """A browser reads ``\\`` in a link as ``/`` and drops tabs and line breaks from it, so
    ``/\\evil.example`` and ``/<tab>/evil.example`` are ``//evil.example``: another site. They
    passed for paths of this one, and the report page made its "Back" link of them."""
    await sign_up(browser, "ursula")
    post_id = (await new_post(browser, "Somewhere", "Text")).rsplit("/", 1)[-1]
    await sign_up_fresh(browser, "viktor")
    tricks = ["/\\evil.example", "/\t/evil.example", "/\n/evil.example", "/ /evil.example",
              "//evil.example", "https://evil.example/"]
    for trick in tricks:
        r = await browser.get("/report", params={"type": "post", "id": post_id, "back": trick})
        assert r.status_code == 200
        assert re.findall(r'<a href="([^"]*)">Back</a>', r.text) == ["/"], trick
        assert 'name="back" value="/"' in r.text, trick
        r = await browser.get("/settings/reports", params={"sent": "1", "back": trick})
        assert re.findall(r'<a href="([^"]*)">Go back</a>', r.text) == ["/"], trick
        r = await browser.get("/login", params={"next": trick})
        assert 'name="next" value="/"' in r.text, trick
        r = await browser.get("/notifications/00000000-0000-0000-0000-000000000000/open",
                              params={"to": trick})
        assert r.status_code == 303 and r.headers["location"] == "/", trick
    # A path of this site still goes where it says.
    r = await browser.get("/report", params={"type": "post", "id": post_id,
                                              "back": f"/posts/{post_id}?comment=x#c"})
    assert re.findall(r'<a href="([^"]*)">Back</a>', r.text) == [f"/posts/{post_id}?comment=x#c"]


def test_sizes_are_said_in_kb_or_mb():
    from focushub.web.kit import size

    assert [size(n) for n in (1, 1024, 64 * 1024, 1024 * 1024, 1536 * 1024, 50 * 1024 * 1024)] \
        == ["1 KB", "1 KB", "64 KB", "1 MB", "1.5 MB", "50 MB"]


async def test_ask_the_ai_is_not_offered_while_an_ai_answer_is_being_written(browser):
    await sign_up(browser, "curious")
    ask = await browser.get("/questions/ask")
    r = await browser.post("/questions/ask", data={"csrf_token": csrf(ask.text),
                                                   "title": "What is entropy?",
                                                   "content": "In thermodynamics."})
    url = r.headers["location"]
    question = await browser.get(url)
    assert f'action="{url}/ai"' in question.text
    await browser.post(f"{url}/ai", data={"csrf_token": csrf(question.text)})
    pending = await browser.get(url)
    assert "Being written from the community" in pending.text
    assert f'action="{url}/ai"' not in pending.text and "Ask the AI" not in pending.text


async def test_refused_post_question_and_upload_fields_are_said_next_to_them(browser):
    await sign_up(browser, "fields")
    token = csrf((await browser.get("/posts/new")).text)
    r = await browser.post("/posts/new", data={"csrf_token": token, "title": "   ",
                                               "content": "Text I keep", "tags": "x" * 40})
    assert r.status_code == 422
    assert "The post was not published: see the message below its field." in r.text
    assert 'aria-invalid="true" aria-describedby="title-error"' in r.text
    assert '<p class="error" id="title-error">This cannot be empty.</p>' in r.text
    assert re.search(r'<p class="error" id="tags-error">A tag is 1 to 30 letters', r.text)
    assert ">Text I keep</textarea>" in r.text and "content-error" not in r.text
    assert "title: String" not in r.text  # never the schema's own words
    r = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Fine title?",
                                                   "content": "  "})
    assert r.status_code == 422 and "The question was not asked" in r.text
    assert '<p class="error" id="content-error">This cannot be empty.</p>' in r.text
    assert 'value="Fine title?"' in r.text
    assert 'aria-describedby="similar"' in r.text  # the title still names its suggestions
    r = await browser.post("/resources/new", data={"csrf_token": token, "title": "t" * 300,
                                                   "description": "Kept"},
                           files={"file": ("n.txt", b"notes", "text/plain")})
    assert r.status_code == 422 and "The resource was not uploaded" in r.text
    assert '<p class="error" id="title-error">This is too long: at most 255 characters.</p>' \
        in r.text
    assert ">Kept</textarea>" in r.text


async def test_a_link_to_a_comment_finds_its_page_in_the_same_few_queries_wherever_it_is(browser):
    """?comment= opens the page that begins with the comment (or the one it replies to):
    one query finds where, instead of reading every page before it."""
    from tests.querycount import count_queries

    await sign_up(browser, "prolific")
    post_url = await new_post(browser, "A long discussion", "Say anything.")
    token = csrf((await browser.get(post_url)).text)
    ids = []
    for n in range(250):
        r = await browser.post(f"{post_url}/comments", data={"csrf_token": token,
                                                             "content": f"Point {n}."})
        ids.append(r.headers["location"].rsplit("comment-", 1)[1])
    r = await browser.post(f"{post_url}/comments", data={
        "csrf_token": token, "content": "A reply far down.", "parent_id": ids[240]})
    reply = r.headers["location"].rsplit("comment-", 1)[1]
    counts = {}
    for wanted in (ids[20], ids[249], reply):
        with count_queries(browser.app.state.runtime.engine) as log:
            shown = await browser.get(post_url, params={"comment": wanted})
        assert shown.status_code == 200 and f'id="comment-{wanted}"' in shown.text
        assert "Show comments from the start" in shown.text
        counts[wanted] = log.count
    assert counts[ids[20]] == counts[ids[249]] == counts[reply], counts
    # The page begins with it, and pages on from there.
    later = await browser.get(post_url, params={"comment": ids[249]})
    assert "Point 248." not in later.text and "Show more comments" not in later.text
    middle = await browser.get(post_url, params={"comment": ids[100]})
    assert re.findall(r"Point (\d+)\.", middle.text)[0] == "100"
    assert "Show more comments" in middle.text


async def test_the_author_edits_a_post_and_the_asker_a_question(browser):
    await sign_up(browser, "editor")
    post_url = await new_post(browser, "Integrals by part", "u dv = uv - v du")
    token = csrf((await browser.get(post_url)).text)
    r = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Why does dx?",
                                                   "content": "Typo inside", "tags": "calculus"})
    q_url = r.headers["location"]
    for url, title in ((post_url, "Integrals by part"), (q_url, "Why does dx?")):
        shown = await browser.get(url)
        assert f'href="{url}/edit"' in shown.text, url
        form = await browser.get(f"{url}/edit")
        assert form.status_code == 200 and f'value="{title}"' in form.text, url
        assert f'action="{url}/edit"' in form.text and ">Save</button>" in form.text
    assert 'value="calculus"' in (await browser.get(f"{q_url}/edit")).text
    r = await browser.post(f"{post_url}/edit", data={"csrf_token": token, "title": "Integration by parts",
                                                     "content": "∫u dv = uv − ∫v du", "tags": "calculus"})
    assert r.status_code == 303 and r.headers["location"] == post_url
    shown = await browser.get(post_url)
    assert "Integration by parts" in shown.text and "∫u dv = uv − ∫v du" in shown.text
    r = await browser.post(f"{q_url}/edit", data={"csrf_token": token, "title": "   ",
                                                  "content": "Fixed details"})
    assert r.status_code == 422 and "The question was not saved" in r.text
    assert ">Fixed details</textarea>" in r.text and 'id="title-error"' in r.text
    r = await browser.post(f"{q_url}/edit", data={"csrf_token": token, "title": "Why does dx vanish?",
                                                  "content": "Fixed details"})
    assert r.status_code == 303 and "Why does dx vanish?" in (await browser.get(q_url)).text

    await sign_up_fresh(browser, "bystander")
    token = csrf((await browser.get(post_url)).text)
    for url in (post_url, q_url):
        assert f'href="{url}/edit"' not in (await browser.get(url)).text
        assert (await browser.get(f"{url}/edit")).status_code == 403
        r = await browser.post(f"{url}/edit", data={"csrf_token": token, "title": "Mine",
                                                    "content": "Taken over"})
        assert r.status_code == 403, url
    assert "Taken over" not in (await browser.get(post_url)).text
    assert "Taken over" not in (await browser.get(q_url)).text


async def test_adding_someone_already_in_the_group_says_so(browser):
    await sign_up(browser, "host")
    token = csrf((await browser.get("/chat")).text)
    room_url = (await browser.post("/chat", data={"csrf_token": token,
                                                  "name": "Reading group"})).headers["location"]
    r = await browser.post(f"{room_url}/people", data={"csrf_token": token, "username": "host"})
    assert r.status_code == 409
    assert '<p class="error" id="add-person-error" role="alert">@host is already in this chat.</p>' \
        in r.text


async def test_a_system_message_is_not_shown_as_one_s_own(browser):
    await sign_up(browser, "xena")
    token = csrf((await browser.get("/chat")).text)
    r = await browser.post("/chat", data={"csrf_token": token, "name": "Night owls"})
    room = await browser.get(r.headers["location"])
    created = re.search(r'<li id="m-\d+" class="([^"]+)"[^>]*data-type="system"', room.text)
    assert created is not None and created.group(1) == "message system"
    await browser.post(r.headers["location"], data={"csrf_token": token, "content": "Hello"})
    room = await browser.get(r.headers["location"])
    assert re.search(r'<li id="m-\d+" class="message mine"[^>]*data-type="text"', room.text)


async def test_a_form_over_the_size_limit_gets_the_error_page_and_the_api_its_json(open_site):
    """The body limit refuses before any handler runs: a page's form still gets the error
    page (signed-in header kept, the limit in words), an API request the error shape."""
    browser = open_site
    await sign_up(browser, "hefty")
    token = csrf((await browser.get("/resources/new")).text)
    too_big = b"a" * (64 * 1024 + 1024 * 1024 + 1)  # over the file limit plus the form's room

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 256 * 1024):
            yield data[start:start + 256 * 1024]

    upload = httpx.Request("POST", "http://testserver/resources/new", data={
        "csrf_token": token, "title": "Huge"}, files={"file": ("big.txt", too_big, "text/plain")})
    streamed = httpx.Request("POST", "http://testserver/resources/new",
                             headers={"content-type": upload.headers["content-type"]},
                             content=chunked(upload.read()))
    post = {"csrf_token": token, "title": "Long", "content": "x" * (1024 * 1024)}
    for request, words in ((upload, "Files may be at most 64 KB"),
                           (streamed, "Files may be at most 64 KB"),
                           (browser.build_request("POST", "/posts/new", data=post),
                            "A form may send at most 1 MB")):
        request.headers["cookie"] = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        r = await browser.send(request)
        assert r.status_code == 413, request.url
        assert r.headers["content-type"].startswith("text/html"), request.url
        assert "<h1>Too large</h1>" in r.text and words in r.text, request.url
        assert "Log out" in r.text and r.headers["cache-control"] == "no-store"
    r = await browser.post("/api/v1/resources", data={"title": "Huge"},
                           files={"file": ("big.txt", too_big, "text/plain")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = await browser.post("/api/v1/posts", json={"title": "Long", "content": "x" * 1024 * 1024})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


# The form fields a page sets itself (hidden inputs, buttons, file and check boxes), which a
# person does not type and so may be required: anything else must reach its handler as typed.
SET_BY_THE_PAGE = {"vote_type", "question_id", "rating", "file", "muted", "type", "id",
                   "is_active", "seq"}


def test_no_page_form_refuses_a_typed_field_before_its_handler():
    """FastAPI reads an empty field as a missing one: a required text field (or a number
    typed in one) left empty was its 422, the generic error page, what was typed lost."""
    from focushub.web.pages import router

    required = sorted((route.path, field.name) for route in router.routes
                      if "POST" in getattr(route, "methods", ())
                      for field in route.dependant.body_params
                      if field.field_info.is_required() and field.name not in SET_BY_THE_PAGE)
    assert required == []


async def test_an_empty_field_comes_back_next_to_itself_with_what_was_typed(browser, test_db):
    await sign_up(browser, "blank")
    post_url = await new_post(browser, "Kept title", "Kept text")
    token = csrf((await browser.get(post_url)).text)
    r = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Kept?",
                                                   "content": "Details"})
    q_url = r.headers["location"]
    resource_url = await upload(browser, "Kept notes")
    forms = [  # path, fields sent (one of them empty), the empty one, a typed one kept
        ("/posts/new", {"title": "", "content": "Typed text"}, "title", ">Typed text</textarea>"),
        (f"{post_url}/edit", {"title": "Typed title", "content": ""}, "content",
         'value="Typed title"'),
        ("/questions/ask", {"title": "", "content": "Typed details"}, "title",
         ">Typed details</textarea>"),
        (f"{q_url}/edit", {"title": "", "content": "Typed details"}, "title",
         ">Typed details</textarea>"),
        (f"{resource_url}/edit", {"title": "", "description": "Typed words"}, "title",
         ">Typed words</textarea>"),
        ("/settings/profile", {"full_name": "", "bio": "Typed bio"}, "full_name",
         ">Typed bio</textarea>"),
    ]
    for path, data, empty, kept in forms:
        r = await browser.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 422, path
        assert re.search(f'aria-invalid="true" aria-describedby="([^"]* )?{empty}-error"',
                         r.text), path
        assert f'id="{empty}-error"' in r.text and kept in r.text, path
    r = await browser.post("/resources/new", data={"csrf_token": token, "title": "",
                                                   "description": "Typed words"},
                           files={"file": ("n.txt", b"notes", "text/plain")})
    assert r.status_code == 422 and '<p class="error" id="title-error">This cannot be empty.</p>' \
        in r.text and ">Typed words</textarea>" in r.text
    # A comment or an answer left empty is said above its form, as a blank one is.
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token, "content": ""})
    assert r.status_code == 303 and "error=empty-comment" in r.headers["location"]
    r = await browser.post(f"{q_url}/answers", data={"csrf_token": token, "content": ""})
    assert r.status_code == 303 and "error=empty-answer" in r.headers["location"]
    # A chat message: under the box of the room page.
    r = await browser.post("/chat", data={"csrf_token": token, "name": "Study group"})
    room_url = r.headers["location"]
    r = await browser.post(room_url, data={"csrf_token": token, "content": ""})
    assert r.status_code == 422
    assert '<p class="errors" id="send-error" role="alert">Write a message first.</p>' in r.text
    assert 'aria-describedby="send-error" aria-invalid="true"' in r.text
    # An administrator's threshold left empty keeps the queue page.
    await make_admin(test_db, "blank")
    await login_as(browser, "blank")
    token = csrf((await browser.get("/admin/reports")).text)
    r = await browser.post("/admin/reports/settings", data={"csrf_token": token,
                                                            "hide_threshold": ""})
    assert r.status_code == 422 and 'id="hide_threshold-error"' in r.text

    # Signed out: the sign-up and log-in forms.
    browser.cookies.clear()
    token = csrf((await browser.get("/signup")).text)
    r = await browser.post("/signup", data={"csrf_token": token, "full_name": "", "username": "x!",
                                            "email": "new@example.org", "password": "short"})
    assert r.status_code == 422 and "fh_access" not in browser.cookies
    assert '<p class="error" id="full_name-error">This cannot be empty.</p>' in r.text
    assert 'aria-describedby="username-help username-error"' in r.text
    assert "Use 3 to 50 letters, digits or underscores." in r.text
    assert "This is too short: at least 8 characters." in r.text
    assert 'value="new@example.org"' in r.text and 'value="x!"' in r.text
    assert "String should" not in r.text  # never the schema's own words
    r = await browser.post("/login", data={"csrf_token": token, "email": "new@example.org",
                                           "password": ""})
    assert r.status_code == 422 and 'id="password-error"' in r.text
    assert 'value="new@example.org"' in r.text


async def test_a_comment_or_answer_over_its_length_is_given_back_whole(browser):
    """It was sent back to the post as if it were empty ("it was empty"), the text lost."""
    await sign_up(browser, "longwinded")
    post_url = await new_post(browser, "Essays", "Write at length.")
    token = csrf((await browser.get(post_url)).text)
    essay = "word " * 1001  # 5,005 characters: over a comment's 5,000
    r = await browser.post(f"{post_url}/comments", data={"csrf_token": token, "content": essay})
    assert r.status_code == 422 and "Your comment was not posted" in r.text
    assert "at most 5,000 characters" in r.text and f">{essay}</textarea>" in r.text
    r = await browser.post("/questions/ask", data={"csrf_token": token, "title": "Long?",
                                                   "content": "Answer at length."})
    q_url = r.headers["location"]
    await sign_up_fresh(browser, "answerer")
    token = csrf((await browser.get(q_url)).text)
    treatise = "x" * 20_001
    r = await browser.post(f"{q_url}/answers", data={"csrf_token": token, "content": treatise})
    assert r.status_code == 422 and "Your answer was not posted" in r.text
    assert "at most 20,000 characters" in r.text and f">{treatise}</textarea>" in r.text


async def test_a_page_address_with_a_malformed_id_is_not_found(browser):
    # A link cut short or mistyped names no post, question, person's list or room: 404,
    # "Not found", as for an id that names nothing, not "Something is wrong with that form".
    await sign_up(browser, "typo")
    for path in ("/posts/not-an-id", "/questions/1234", "/resources/x/edit", "/chat/abc",
                 "/posts/00000000-0000-0000-0000-00000000000/comments/x",
                 "/notifications/nope/open"):
        r = await browser.get(path)
        assert r.status_code == 404 and "Not found" in r.text, path
    token = csrf((await browser.get("/")).text)
    r = await browser.post("/posts/not-an-id/comments", data={"csrf_token": token,
                                                              "content": "Hello"})
    assert r.status_code == 404
    # The API keeps its validation error.
    assert (await browser.get("/api/v1/posts/not-an-id")).status_code == 422


async def test_every_chat_of_someone_in_many_is_reached_from_the_chat_page(open_site):
    browser = open_site
    await sign_up(browser, "social")
    token = csrf((await browser.get("/chat")).text)
    for n in range(23):
        r = await browser.post("/chat", data={"csrf_token": token, "name": f"Group {n:02}"})
        assert r.status_code == 303
    seen: list[str] = []
    url: str | None = "/chat"
    while url is not None:
        r = await browser.get(url)
        assert r.status_code == 200 and "</html>" in r.text
        rooms = r.text.split('id="room-items"', 1)[1].split("</ol>", 1)[0]
        seen += re.findall(r"Group (\d\d)</a>", rooms)
        more = re.search(r'<li class="more"><a href="([^"]+)"', rooms)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert sorted(seen) == [f"{n:02}" for n in range(23)] and len(seen) == 23
    # With htmx the next rooms take the link's place.
    first = await browser.get("/chat")
    assert 'hx-select="#room-items > li"' in first.text
    assert (await browser.get("/chat?cursor=nonsense")).status_code == 400
