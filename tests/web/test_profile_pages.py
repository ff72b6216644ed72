"""Profile pages by their address: the person named there, or nobody."""

from __future__ import annotations

import re

from tests.web.test_pages import (  # noqa: F401  (browser, open_site: the fixtures)
    _user_id,
    browser,
    csrf,
    follows,
    login_as,
    make_admin,
    open_site,
    sign_up,
)


async def test_a_profile_address_one_character_too_long_names_nobody(browser):  # noqa: F811
    # The longest username (50 characters), and an address one character longer: that one
    # is nobody's page, and its forms act on nobody (it was cut to the first 50 characters).
    longest = "fay_" + "x" * 46
    await sign_up(browser, longest)
    browser.cookies.clear()
    await sign_up(browser, "gus")
    assert (await browser.get(f"/u/{longest}")).status_code == 200
    assert (await browser.get(f"/u/{longest}y")).status_code == 404
    token = csrf((await browser.get("/")).text)
    for action in ("follow", "block"):
        r = await browser.post(f"/u/{longest}y/{action}", data={"csrf_token": token})
        assert r.status_code == 404, action
    profile = await browser.get(f"/u/{longest}")
    assert profile.status_code == 200  # not blocked
    assert "Unfollow" not in profile.text


def _more(html: str, list_id: str) -> str | None:
    """The address of the "Load more" link that ends the list ``list_id``, if any."""
    listing = html.split(f'id="{list_id}"', 1)[1].split("</ul>", 1)[0]
    match = re.search(r'<li class="more"><a href="([^"]+)"', listing)
    return match.group(1).replace("&amp;", "&") if match else None


async def test_every_post_and_question_of_a_person_is_reached_from_the_profile(open_site):  # noqa: F811
    site = open_site
    await sign_up(site, "prolific")
    token = csrf((await site.get("/posts/new")).text)
    for n in range(23):
        r = await site.post("/posts/new", data={"csrf_token": token,
                                                   "title": f"Post number {n:02}",
                                                   "content": "Something worth reading."})
        assert r.status_code == 303
        r = await site.post("/questions/ask", data={"csrf_token": token,
                                                       "title": f"Question number {n:02}",
                                                       "content": "Something worth asking."})
        assert r.status_code == 303
    site.cookies.clear()  # as anyone reading the profile
    for list_id, noun in (("profile-posts", "Post"), ("profile-questions", "Question")):
        seen: list[str] = []
        url: str | None = "/u/prolific"
        pages = 0
        while url is not None:
            r = await site.get(url)
            assert r.status_code == 200, r.text
            assert r.text.count(f'id="{list_id}"') == 1 and "</html>" in r.text
            listing = r.text.split(f'id="{list_id}"', 1)[1].split("</ul>", 1)[0]
            seen += re.findall(rf"{noun} number (\d\d)", listing)
            url = _more(r.text, list_id)
            pages += 1
        assert sorted(seen) == [f"{n:02}" for n in range(23)], (noun, seen)
        assert len(seen) == 23 and pages == 3
    # With htmx the next items replace the link in place: the answer holds them.
    first = await site.get("/u/prolific")
    later = await site.get(_more(first.text, "profile-posts"), headers={"HX-Request": "true"})
    assert later.status_code == 200 and "Post number 12" in later.text
    assert 'hx-select="#profile-posts > li"' in first.text
    # A cursor that is not one is a 400 page, not a 500.
    assert (await site.get("/u/prolific?posts_cursor=nonsense")).status_code == 400



async def test_one_sees_whom_one_follows_and_lets_go_of_a_deactivated_account(browser, test_db):  # noqa: F811
    for name in ("idol", "star", "fan"):
        browser.cookies.clear()
        await sign_up(browser, name)
    for whom in ("idol", "star"):
        await follows(browser, "fan", whom)
    idol = await _user_id(test_db, "idol")
    browser.cookies.clear()
    await sign_up(browser, "boss")
    await make_admin(test_db, "boss")
    await login_as(browser, "boss")
    admin = await browser.get("/admin", params={"q": "idol"})
    r = await browser.post(f"/admin/users/{idol}", data={
        "csrf_token": csrf(admin.text), "is_active": "false", "reason": "Spam"})
    assert r.status_code == 303

    await login_as(browser, "fan")
    assert (await browser.get("/u/idol")).status_code == 404
    profile = await browser.get("/u/fan")
    assert 'href="/u/fan/following"' in profile.text
    assert 'href="/u/fan/followers"' in profile.text
    mine = await browser.get("/u/fan/following")
    assert mine.status_code == 200
    assert "@star" in mine.text and 'href="/u/star"' in mine.text
    # The deactivated account is there to be let go, by no more than the API tells of it.
    assert "no longer active" in mine.text and f"/following/{idol}/remove" in mine.text
    assert "idol" not in mine.text.lower()
    r = await browser.post(f"/following/{idol}/remove", data={"csrf_token": csrf(mine.text)})
    assert r.status_code == 303 and r.headers["location"].startswith("/u/fan/following")
    mine = await browser.get(r.headers["location"])
    assert "no longer active" not in mine.text and "@star" in mine.text
    assert f"/following/{idol}/remove" not in mine.text
    # So is someone still active, from the same list.
    star = await _user_id(test_db, "star")
    r = await browser.post(f"/following/{star}/remove", data={"csrf_token": csrf(mine.text)})
    assert r.status_code == 303
    assert "@star" not in (await browser.get("/u/fan/following")).text
    assert "0 following" in (await browser.get("/u/fan")).text
    # Nobody else sees whom one followed and no longer sees, nor an Unfollow of one's own.
    await follows(browser, "fan", "star")
    browser.cookies.clear()
    theirs = await browser.get("/u/fan/following")
    assert theirs.status_code == 200 and "@star" in theirs.text
    assert "/remove" not in theirs.text and "no longer active" not in theirs.text
    followers = await browser.get("/u/star/followers")
    assert followers.status_code == 200 and "@fan" in followers.text
    assert (await browser.get("/u/idol/followers")).status_code == 404
    assert (await browser.get("/u/fan/following?cursor=nonsense")).status_code == 400


async def test_the_follow_button_sent_twice_still_follows(browser):  # noqa: F811
    """The profile's form says what it does: submitted again (a double click, a tab left
    open since), it does not undo itself."""
    await sign_up(browser, "gus")
    browser.cookies.clear()
    await sign_up(browser, "hal")
    profile = await browser.get("/u/gus")
    form = re.search(r'<form method="post" action="/u/gus/follow">(.*?)</form>', profile.text, re.S)
    assert form and 'name="following" value="true"' in form.group(1)
    token = csrf(profile.text)
    for _ in range(2):
        r = await browser.post("/u/gus/follow", data={"csrf_token": token, "following": "true"})
        assert r.status_code == 303
    again = await browser.get("/u/gus")
    assert "Unfollow" in again.text and 'name="following" value="false"' in again.text
    for _ in range(2):
        await browser.post("/u/gus/follow", data={"csrf_token": token, "following": "false"})
    assert 'name="following" value="true"' in (await browser.get("/u/gus")).text
