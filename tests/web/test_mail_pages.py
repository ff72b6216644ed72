"""The pages that start or finish what a mail carries: password reset and email verification."""

from __future__ import annotations

import re

import asyncpg

from tests.web.test_pages import browser, csrf  # noqa: F401  (browser: the fixture)


async def reset_mails(test_db, to: str) -> list[str]:
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        rows = await conn.fetch("SELECT body FROM focushub_auth.mail_outbox"
                                " WHERE to_email = $1 AND subject LIKE 'Reset%'", to)
    finally:
        await conn.close()
    return [r["body"] for r in rows]


async def test_the_reset_page_mails_the_account_its_address_names(browser, test_db):  # noqa: F811
    """The form's address is read as the API reads it: a domain in its ASCII form (browsers
    send an internationalized one so) or with blanks around it names the same account."""
    r = await browser.post("/api/v1/auth/signup", json={
        "email": "rosa@bücher.example", "password": "correct horse battery",
        "full_name": "Rosa", "username": "rosa"})
    assert r.status_code == 201, r.text
    browser.cookies.clear()
    for typed in ("rosa@xn--bcher-kva.example", " rosa@bücher.example "):
        page = await browser.get("/password-reset")
        r = await browser.post("/password-reset", data={"csrf_token": csrf(page.text),
                                                         "email": typed})
        assert r.status_code == 200 and "Check your email" in r.text
    assert len(await reset_mails(test_db, "rosa@bücher.example")) == 2


async def verify_mails(test_db, to: str) -> list[str]:
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        rows = await conn.fetch("SELECT body FROM focushub_auth.mail_outbox"
                                " WHERE to_email = $1 AND subject LIKE 'Confirm%' ORDER BY id", to)
    finally:
        await conn.close()
    return [r["body"] for r in rows]


def link_of(body: str) -> str:
    return "/verify-email?token=" + body.split("/verify-email?token=")[1].split()[0]


async def test_an_unconfirmed_account_can_have_its_confirmation_mailed_again(browser, test_db):  # noqa: F811
    """The sign-up's link lasts a day; after that the account page sends a new one (an
    unconfirmed account keeps a new account's write limits until it is confirmed)."""
    page = await browser.get("/signup")
    r = await browser.post("/signup", data={
        "csrf_token": csrf(page.text), "email": "ivo@example.org", "full_name": "Ivo",
        "username": "ivo", "password": "correct horse battery"})
    assert r.status_code == 303
    (first,) = await verify_mails(test_db, "ivo@example.org")
    conn = await asyncpg.connect(test_db.owner_url)
    try:
        await conn.execute("UPDATE focushub_auth.one_time_tokens SET expires_at = now()"
                           " - interval '1 second'")
    finally:
        await conn.close()
    assert (await browser.get(link_of(first))).status_code == 400

    account = await browser.get("/settings/account")
    assert "(not confirmed yet)" in account.text
    form = re.search(r'<form method="post" action="(/settings/account/[a-z-]+)"[^>]*>\s*'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
                     r'<button type="submit">Send the confirmation mail again</button>',
                     account.text)
    assert form, "an unconfirmed account is offered a new confirmation mail"
    r = await browser.post(form.group(1), data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = await browser.post(form.group(1), data={"csrf_token": form.group(2)})
    assert r.status_code == 303
    sent = await browser.get(r.headers["location"])
    assert "We sent a new confirmation mail to ivo@example.org" in sent.text
    first_again, second = await verify_mails(test_db, "ivo@example.org")
    assert first_again == first
    confirmed = await browser.get(link_of(second))
    assert confirmed.status_code == 200 and "Email confirmed" in confirmed.text
    account = await browser.get("/settings/account")
    assert "(not confirmed yet)" not in account.text
    assert "Send the confirmation mail again" not in account.text


async def test_a_confirmation_link_opened_again_says_the_address_is_confirmed(browser, test_db):  # noqa: F811
    """Mail scanners open links before their reader does, and people click twice: a spent
    link, opened by the signed-in owner of a confirmed address, says so rather than that
    it does not work."""
    page = await browser.get("/signup")
    r = await browser.post("/signup", data={
        "csrf_token": csrf(page.text), "email": "jana@example.org", "full_name": "Jana",
        "username": "jana", "password": "correct horse battery"})
    assert r.status_code == 303
    (mail,) = await verify_mails(test_db, "jana@example.org")
    session = dict(browser.cookies)
    browser.cookies.clear()  # a scanner, with no session of its own, opens the link first
    assert (await browser.get(link_of(mail))).status_code == 200
    browser.cookies.update(session)
    again = await browser.get(link_of(mail))
    assert again.status_code == 200
    assert "jana@example.org is confirmed" in again.text
    # Signed out, nothing is said about any account.
    browser.cookies.clear()
    signed_out = await browser.get(link_of(mail))
    assert signed_out.status_code == 400 and "This link does not work" in signed_out.text
    assert "jana@example.org" not in signed_out.text
