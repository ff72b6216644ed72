"""A form sent after its session ended (logged out in another tab, expired) keeps what was
typed: the login page carries it, and logging in offers to send it again."""

from __future__ import annotations

import re
from html import unescape

from tests.web.test_pages import _user_id, browser, csrf, login_as, make_admin, sign_up  # noqa: F401

ESSAY = 'Hours of work: "loops" & <recursion>\nsecond line'


def hidden(html: str) -> list[tuple[str, str]]:
    return [(unescape(n), unescape(v)) for n, v in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)]


def signed_out_elsewhere(browser) -> None:  # noqa: F811
    """The session cookies go, as logging out in another tab takes them; the page's CSRF
    cookie stays."""
    for name in ("fh_access", "fh_refresh"):
        browser.cookies.delete(name)


async def test_a_post_sent_signed_out_is_carried_through_the_login_and_sent_again(browser):  # noqa: F811
    await sign_up(browser, "ola")
    form = await browser.get("/posts/new")
    token = csrf(form.text)
    signed_out_elsewhere(browser)
    r = await browser.post("/posts/new", headers={"Referer": "http://testserver/posts/new"},
                           data={"csrf_token": token, "title": "My essay", "content": ESSAY})
    assert r.status_code == 401 and "You were signed out before this was sent" in r.text
    fields = dict(hidden(r.text))
    assert fields["resend_to"] == "/posts/new" and fields["next"] == "/posts/new"
    assert fields["keep:title"] == "My essay" and fields["keep:content"] == ESSAY
    assert "keep:csrf_token" not in fields

    # A wrong password keeps carrying it.
    r = await browser.post("/login", data={**fields, "email": "ola@example.org",
                                           "password": "not the one!"})
    assert r.status_code == 401 and dict(hidden(r.text))["keep:content"] == ESSAY
    r = await browser.post("/login", data={**fields, "email": "ola@example.org",
                                           "password": "correct horse battery"})
    assert r.status_code == 200 and "Send it again?" in r.text
    assert "&lt;recursion&gt;" in r.text and "<recursion>" not in r.text  # shown, escaped
    resend = dict(hidden(r.text))
    assert re.search(r'<form method="post" action="/posts/new">', r.text)
    assert resend["title"] == "My essay" and resend["content"] == ESSAY
    r = await browser.post("/posts/new", data=resend)
    assert r.status_code == 303
    post = await browser.get(r.headers["location"])
    assert "My essay" in post.text and "&lt;recursion&gt;" in post.text

    # "Do not send it" leads back to the form's page; not to the address of a page that
    # was an answer to a post (a refused comment's draft), which no link loads.
    signed_out_elsewhere(browser)
    path = r.headers["location"]
    for came_from, back in ((path, path), (f"{path}/comments", "/")):
        r = await browser.post(f"{path}/comments", data={"csrf_token": token, "content": "Hi"},
                               headers={"Referer": f"http://testserver{came_from}"})
        assert r.status_code == 401 and dict(hidden(r.text))["next"] == back


async def test_no_password_file_or_forged_post_is_carried(browser):  # noqa: F811
    await sign_up(browser, "pia")
    token = csrf((await browser.get("/settings/account")).text)
    signed_out_elsewhere(browser)
    r = await browser.post("/settings/account/password", data={
        "csrf_token": token, "current_password": "correct horse battery",
        "new_password": "another long one", "confirm_password": "another long one"})
    assert r.status_code == 401
    assert not [n for n, _ in hidden(r.text) if "password" in n]
    assert "another long one" not in r.text and "correct horse battery" not in r.text

    r = await browser.post("/settings/avatar", data={"csrf_token": token},
                           files={"file": ("me.png", b"\x89PNG...", "image/png")})
    assert r.status_code == 401 and "files are not kept" in r.text
    assert "PNG" not in "".join(v for _, v in hidden(r.text))

    # Another site's post (no CSRF cookie comes with it) is not carried into a session.
    browser.cookies.clear()
    r = await browser.post("/posts/new", data={"csrf_token": token, "title": "Spam",
                                               "content": "Buy now"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fposts%2Fnew"


async def test_logging_in_from_a_page_with_a_query_comes_back_to_the_same_page(browser):  # noqa: F811
    """A signed-out visitor's Report link: the login page returns to the report form of
    that post, not to a bare /report that names nothing."""
    await sign_up(browser, "uma")
    token = csrf((await browser.get("/posts/new")).text)
    r = await browser.post("/posts/new", data={"csrf_token": token, "title": "Maps",
                                               "content": "Projections."})
    post_id = r.headers["location"].rsplit("/", 1)[1]
    browser.cookies.clear()
    await sign_up(browser, "val")
    browser.cookies.delete("fh_access")
    browser.cookies.delete("fh_refresh")
    wanted = f"/report?type=post&id={post_id}"
    r = await browser.get(wanted)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=%2Freport%3Ftype%3Dpost%26id%3D{post_id}"
    login = await browser.get(r.headers["location"])
    assert f'name="next" value="{wanted.replace("&", "&amp;")}"' in login.text
    r = await browser.post("/login", data={"csrf_token": csrf(login.text), "next": wanted,
                                           "email": "val@example.org",
                                           "password": "correct horse battery"})
    assert r.status_code == 303 and r.headers["location"] == wanted
    form = await browser.get(wanted)
    assert form.status_code == 200 and "Report a post" in form.text


async def test_an_htmx_request_signed_out_opens_the_login_page_instead_of_nesting_it(browser):  # noqa: F811
    """Mute on a profile (in place with htmx) after the session ended: htmx is told to
    open the login page, which comes back to the profile; the login page is never put
    inside the profile in place of the button."""
    await sign_up(browser, "wes")
    browser.cookies.clear()
    await sign_up(browser, "xia")
    token = csrf((await browser.get("/u/wes")).text)
    browser.cookies.delete("fh_access")
    browser.cookies.delete("fh_refresh")
    r = await browser.post("/u/wes/mute", data={"csrf_token": token, "muted": "true"},
                           headers={"HX-Request": "true",
                                    "HX-Current-URL": "http://testserver/u/wes"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login?next=%2Fu%2Fwes"
    assert "<html" not in r.text
    # Another site's address is not where the login page goes back to.
    r = await browser.get("/chat?cursor=x", headers={
        "HX-Request": "true", "HX-Current-URL": "http://evil.example/u/wes"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login?next=%2F"


async def test_a_post_sent_after_the_session_was_ended_elsewhere_keeps_its_text(browser,  # noqa: F811
                                                                                 test_db):
    """An administrator logs everyone of an account out while its owner writes (the access
    cookie still verifies; the database refuses the session): the form comes back signed out
    with the text and why, and sending it again goes through the carrying login page."""
    await sign_up(browser, "zed")
    token = csrf((await browser.get("/posts/new")).text)
    zed_cookies = dict(browser.cookies)
    await sign_up(browser, "yam")
    await make_admin(test_db, "yam")
    await login_as(browser, "yam")
    admin = await browser.get("/admin")
    r = await browser.post(f"/admin/users/{await _user_id(test_db, 'zed')}/end-sessions",
                           data={"csrf_token": csrf(admin.text)})
    assert r.status_code == 303
    browser.cookies.clear()
    for name, value in zed_cookies.items():
        browser.cookies.set(name, value)

    r = await browser.post("/posts/new", data={"csrf_token": token, "title": "My essay",
                                               "content": ESSAY})
    assert r.status_code == 401 and "This session has ended" in r.text
    assert 'value="My essay"' in r.text and "Hours of work: &#34;loops&#34;" in r.text
    assert "Log out" not in r.text  # the header is signed out, and so are the cookies
    gone = [c for c in r.headers.get_list("set-cookie") if "Max-Age=0" in c]
    assert {c.split("=", 1)[0] for c in gone} == {"fh_access", "fh_refresh"}
    for name in ("fh_access", "fh_refresh"):  # set by hand above, so not by the answer
        browser.cookies.delete(name)
    r = await browser.post("/posts/new", data={"csrf_token": csrf(r.text), "title": "My essay",
                                               "content": ESSAY})
    assert r.status_code == 401 and "You were signed out before this was sent" in r.text
    assert dict(hidden(r.text))["keep:content"] == ESSAY
