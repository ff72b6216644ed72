"""Sign-up, login, refresh rotation, logout, verification and reset through HTTP."""

from __future__ import annotations

import base64
import time

import httpx
import jwt
import orjson

from focushub.app import create_app
from focushub.core.ratelimit import Rate
from tests.api.conftest import JWT_SECRET, admin_of, make_user


async def test_signup_returns_user_and_working_tokens(client, owner_conn):
    session = await make_user(client, email="Ada@Example.org", username="ada")
    assert session["user"]["email"] == "ada@example.org"
    assert session["user"]["username"] == "ada"
    assert session["user"]["role"] == "student"
    assert session["user"]["is_verified"] is False
    assert session["token_type"] == "bearer"
    me = await client.get("/api/v1/users/me", headers=session["headers"])
    assert me.status_code == 200
    assert me.json()["id"] == session["user"]["id"]
    # The password is stored as an argon2id hash, outside public.users.
    stored = await owner_conn.fetchval(
        "SELECT password_hash FROM focushub_auth.credentials WHERE user_id = $1::uuid", session["user"]["id"]
    )
    assert stored.startswith("$argon2id$")
    columns = await owner_conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema='public' AND table_name='users'"
    )
    assert not any("password" in c["column_name"] for c in columns)


async def test_access_token_claims_are_supabase_shaped(client):
    session = await make_user(client)
    claims = jwt.decode(session["access_token"], JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == session["user"]["id"]
    assert claims["role"] == "authenticated"
    assert claims["exp"] > claims["iat"]
    assert claims["app_metadata"]["role"] == "student"


async def test_duplicate_email_case_insensitive_and_username_conflict(client):
    await make_user(client, email="sam@example.org", username="sam")
    dup_email = await client.post(
        "/api/v1/auth/signup",
        json={"email": "SAM@example.org", "password": "another password", "full_name": "S", "username": "sam2"},
    )
    assert dup_email.status_code == 409
    assert dup_email.json()["error"]["code"] == "email_taken"
    dup_user = await client.post(
        "/api/v1/auth/signup",
        json={"email": "other@example.org", "password": "another password", "full_name": "S", "username": "sam"},
    )
    assert dup_user.status_code == 409
    assert dup_user.json()["error"]["code"] == "username_taken"


async def test_login_updates_last_login_and_rejects_wrong_password(client, owner_conn):
    session = await make_user(client, email="lin@example.org")
    before = await owner_conn.fetchval("SELECT last_login FROM users WHERE email = 'lin@example.org'")
    ok = await client.post("/api/v1/auth/login", json={"email": "LIN@example.org", "password": session["password"]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["email"] == "lin@example.org"
    after = await owner_conn.fetchval("SELECT last_login FROM users WHERE email = 'lin@example.org'")
    assert after is not None and (before is None or after > before)

    wrong = await client.post("/api/v1/auth/login", json={"email": "lin@example.org", "password": "nope-nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    unknown = await client.post("/api/v1/auth/login", json={"email": "ghost@example.org", "password": "nope-nope"})
    assert unknown.status_code == 401
    # The same answer either way (only the request's own id differs).
    assert {**unknown.json()["error"], "request_id": None} == {**wrong.json()["error"],
                                                              "request_id": None}


async def test_refresh_rotates_and_reuse_revokes_family(client, owner_conn):
    session = await make_user(client)
    first = session["refresh_token"]
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (await client.get("/api/v1/users/me", headers={
        "Authorization": f"Bearer {rotated.json()['access_token']}"})).status_code == 200

    # Replaying the spent token (later than a client's own race, 0052) is refused and ends
    # the whole family...
    await _spent_long_ago(owner_conn, session)
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_reused"
    # ...so the legitimate successor no longer works either.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "invalid_token"


async def _spent_long_ago(owner_conn, session) -> None:
    await owner_conn.execute(
        "UPDATE focushub_auth.refresh_tokens SET spent_at = spent_at - interval '11 seconds'"
        " WHERE user_id = $1::uuid AND spent_at IS NOT NULL", session["user"]["id"])


async def test_a_token_spent_a_moment_ago_by_the_same_client_ends_nothing(client):
    """Two requests of one client renewing together (two server processes, two tabs): the
    later one finds the token spent moments ago: 401 token_raced, and the session the first
    renewed goes on (0052)."""
    session = await make_user(client)
    first = session["refresh_token"]
    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    raced = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert raced.status_code == 401 and raced.json()["error"]["code"] == "token_raced"
    assert (await client.get("/api/v1/users/me", headers={
        "Authorization": f"Bearer {rotated.json()['access_token']}"})).status_code == 200
    again = await client.post("/api/v1/auth/refresh",
                              json={"refresh_token": rotated.json()["refresh_token"]})
    assert again.status_code == 200, again.text


async def test_logout_ends_the_session(client):
    session = await make_user(client)
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]})
    assert out.status_code == 204
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert again.status_code == 401


async def test_expired_and_tampered_tokens_are_refused(client):
    session = await make_user(client)
    claims = jwt.decode(session["access_token"], JWT_SECRET, algorithms=["HS256"], audience="authenticated")

    expired = jwt.encode({**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
                         JWT_SECRET, algorithm="HS256")
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"

    forged = jwt.encode(claims, "not-the-secret-" + "y" * 40, algorithm="HS256")
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"

    # A payload edited after signing (someone else's id) breaks the signature.
    header, payload, signature = session["access_token"].split(".")
    other = {**claims, "sub": "00000000-0000-0000-0000-000000000001"}
    edited_payload = base64.urlsafe_b64encode(orjson.dumps(other)).rstrip(b"=").decode()
    r = await client.get("/api/v1/users/me",
                         headers={"Authorization": f"Bearer {header}.{edited_payload}.{signature}"})
    assert r.status_code == 401

    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"

    wrong_role = jwt.encode({**claims, "role": "service_role"}, JWT_SECRET, algorithm="HS256")
    r = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {wrong_role}"})
    assert r.status_code == 401

    r = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401
    r = await client.get("/api/v1/users/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"


async def test_inactive_user_cannot_login_or_refresh(client, owner_conn):
    session = await make_user(client, email="gone@example.org")
    await owner_conn.execute("UPDATE users SET is_active = false WHERE email = 'gone@example.org'")
    login = await client.post("/api/v1/auth/login", json={"email": "gone@example.org", "password": session["password"]})
    assert login.status_code == 403
    assert login.json()["error"]["code"] == "inactive_user"
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 403
    assert refresh.json()["error"]["code"] == "inactive_user"
    # Reactivation does not resurrect the refresh token that was refused.
    await owner_conn.execute("UPDATE users SET is_active = true WHERE email = 'gone@example.org'")
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert again.status_code == 401


async def test_email_verification_token_is_single_use(client, owner_conn):
    session = await make_user(client, email="vera@example.org")
    body = await owner_conn.fetchval(
        "SELECT body FROM focushub_auth.mail_outbox WHERE to_email = 'vera@example.org' ORDER BY id DESC LIMIT 1")
    token = body.split("POST /api/v1/auth/verify-email:\n")[1].split()[0]
    ok = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert ok.status_code == 200
    me = await client.get("/api/v1/users/me", headers=session["headers"])
    assert me.json()["is_verified"] is True
    twice = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert twice.status_code == 400
    assert twice.json()["error"]["code"] == "invalid_token"
    # Only digests are stored.
    stored = await owner_conn.fetchval("SELECT count(*) FROM focushub_auth.one_time_tokens WHERE token_hash = $1", token.encode())
    assert stored == 0


async def test_password_reset_flow(client, owner_conn):
    session = await make_user(client, email="rosa@example.org")
    unknown = await client.post("/api/v1/auth/password-reset/request", json={"email": "nobody@example.org"})
    known = await client.post("/api/v1/auth/password-reset/request", json={"email": "rosa@example.org"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM focushub_auth.mail_outbox WHERE to_email = 'nobody@example.org'") == 0

    body = await owner_conn.fetchval(
        "SELECT body FROM focushub_auth.mail_outbox WHERE to_email = 'rosa@example.org' AND subject LIKE 'Reset%'")
    token = body.split("password-reset/confirm:\n")[1].split()[0]
    done = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "a brand new secret"})
    assert done.status_code == 200
    # Old password and old sessions are gone; the new password works.
    old = await client.post("/api/v1/auth/login", json={"email": "rosa@example.org", "password": session["password"]})
    assert old.status_code == 401
    stale = await client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert stale.status_code == 401
    new = await client.post("/api/v1/auth/login", json={"email": "rosa@example.org", "password": "a brand new secret"})
    assert new.status_code == 200
    reuse = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "yet another one"})
    assert reuse.status_code == 400


async def test_expired_reset_token_is_refused(client, owner_conn):
    await make_user(client, email="tim@example.org")
    await client.post("/api/v1/auth/password-reset/request", json={"email": "tim@example.org"})
    body = await owner_conn.fetchval(
        "SELECT body FROM focushub_auth.mail_outbox WHERE to_email = 'tim@example.org' AND subject LIKE 'Reset%'")
    token = body.split("password-reset/confirm:\n")[1].split()[0]
    await owner_conn.execute("UPDATE focushub_auth.one_time_tokens SET expires_at = now() - interval '1 second'")
    r = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "whatever12345"})
    assert r.status_code == 400


async def test_login_is_rate_limited(settings, engine):
    # The default burst (10) with a window so long that nothing refills while the test runs:
    # with the real minute, a slow machine admits an 11th attempt 6 s after the first (GCRA).
    app = create_app(settings.model_copy(update={"rate_login": Rate(10, 10**6)}), engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        session = await make_user(client, email="rate@example.org")
        codes = []
        for _ in range(12):
            r = await client.post("/api/v1/auth/login",
                                  json={"email": "rate@example.org", "password": "wrong-password"})
            codes.append(r.status_code)
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    assert session  # the account exists; the limit is per address and email


def _mailed_token(body: str) -> str:
    marker = "verify-email:\n" if "verify-email:\n" in body else "password-reset/confirm:\n"
    return body.split(marker)[1].split()[0]


async def _last_mail(owner_conn, to: str, subject: str) -> str:
    return await owner_conn.fetchval(
        "SELECT body FROM focushub_auth.mail_outbox WHERE to_email = $1 AND subject LIKE $2"
        " ORDER BY id DESC LIMIT 1", to, subject + "%")


async def test_a_verification_token_verifies_only_the_address_it_was_mailed_to(client, owner_conn):
    gina = await make_user(client, email="gina@example.com")
    old = _mailed_token(await _last_mail(owner_conn, "gina@example.com", "Confirm"))
    r = await client.put("/api/v1/users/me/email", headers=gina["headers"],
                         json={"email": "victim@corp.example", "password": gina["password"]})
    assert r.status_code == 204
    # The token mailed to gina@example.com does not confirm victim@corp.example.
    r = await client.post("/api/v1/auth/verify-email", json={"token": old})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_token"
    me = (await client.get("/api/v1/users/me", headers=gina["headers"])).json()
    assert (me["email"], me["is_verified"]) == ("victim@corp.example", False)
    # The one mailed to the new address does.
    new = _mailed_token(await _last_mail(owner_conn, "victim@corp.example", "Confirm"))
    r = await client.post("/api/v1/auth/verify-email", json={"token": new})
    assert r.status_code == 200
    me = (await client.get("/api/v1/users/me", headers=gina["headers"])).json()
    assert (me["email"], me["is_verified"]) == ("victim@corp.example", True)


async def test_a_password_change_revokes_outstanding_reset_tokens(client, owner_conn):
    hank = await make_user(client, email="hank@example.com")
    await client.post("/api/v1/auth/password-reset/request", json={"email": "hank@example.com"})
    token = _mailed_token(await _last_mail(owner_conn, "hank@example.com", "Reset"))
    r = await client.put("/api/v1/users/me/password", headers=hank["headers"],
                         json={"current_password": hank["password"],
                               "new_password": "hank's own new secret"})
    assert r.status_code == 204
    r = await client.post("/api/v1/auth/password-reset/confirm",
                          json={"token": token, "password": "the attacker's password"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_token"
    r = await client.post("/api/v1/auth/login", json={"email": "hank@example.com",
                                                      "password": "the attacker's password"})
    assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json={"email": "hank@example.com",
                                                      "password": "hank's own new secret"})
    assert r.status_code == 200


async def test_an_email_change_revokes_outstanding_mail_tokens(client, owner_conn):
    hank = await make_user(client, email="hank@example.com")
    verify = _mailed_token(await _last_mail(owner_conn, "hank@example.com", "Confirm"))
    await client.post("/api/v1/auth/password-reset/request", json={"email": "hank@example.com"})
    reset = _mailed_token(await _last_mail(owner_conn, "hank@example.com", "Reset"))
    # Away and back again: the tokens mailed before are not revived by the old address.
    for email in ("elsewhere@example.com", "hank@example.com"):
        r = await client.put("/api/v1/users/me/email", headers=hank["headers"],
                             json={"email": email, "password": hank["password"]})
        assert r.status_code == 204
    r = await client.post("/api/v1/auth/password-reset/confirm",
                          json={"token": reset, "password": "the attacker's password"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_token"
    r = await client.post("/api/v1/auth/verify-email", json={"token": verify})
    assert r.status_code == 400
    r = await client.post("/api/v1/auth/login", json={"email": "hank@example.com",
                                                      "password": hank["password"]})
    assert r.status_code == 200
    # The mail sent after the change still works.
    latest = _mailed_token(await _last_mail(owner_conn, "hank@example.com", "Confirm"))
    assert (await client.post("/api/v1/auth/verify-email", json={"token": latest})).status_code == 200


async def test_a_deactivated_account_keeps_no_working_reset_link(client, owner_conn):
    admin = await admin_of(client, owner_conn)
    ines = await make_user(client, email="ines@example.com")
    await client.post("/api/v1/auth/password-reset/request", json={"email": "ines@example.com"})
    token = _mailed_token(await _last_mail(owner_conn, "ines@example.com", "Reset"))
    for active in (False, True):  # deactivated, then back again
        r = await client.patch(f"/api/v1/admin/users/{ines['user']['id']}",
                               headers=admin["headers"], json={"is_active": active, "reason": "x"})
        assert r.status_code == 204
        r = await client.post("/api/v1/auth/password-reset/confirm",
                              json={"token": token, "password": "the attacker's password"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_token"
    r = await client.post("/api/v1/auth/login", json={"email": "ines@example.com",
                                                      "password": ines["password"]})
    assert r.status_code == 200
