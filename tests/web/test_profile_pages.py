"""Profile pages by their address: the person named there, or nobody."""

from __future__ import annotations

from tests.web.test_pages import browser, csrf, sign_up  # noqa: F401  (browser: the fixture)


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
