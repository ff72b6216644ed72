"""Privacy settings enforced where the data is read, and changing one's password or email."""

from __future__ import annotations

from tests.api.conftest import make_user


async def test_privacy_settings_are_enforced(client, owner_conn):
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    r = await client.get("/api/v1/users/me/privacy", headers=alice["headers"])
    assert r.json() == {"profile_visibility": "everyone", "show_email": False, "dm_from": "everyone"}
    assert (await client.get("/api/v1/users/me/privacy")).status_code == 401
    r = await client.patch("/api/v1/users/me/privacy", headers=alice["headers"], json={})
    assert r.status_code == 422
    r = await client.patch("/api/v1/users/me/privacy", headers=alice["headers"],
                           json={"profile_visibility": "signed_in", "show_email": True,
                                 "dm_from": "following"})
    assert r.status_code == 200 and r.json()["dm_from"] == "following"
    r = await client.patch("/api/v1/users/me/privacy", headers=alice["headers"],
                           json={"show_email": False})
    assert r.json() == {"profile_visibility": "signed_in", "show_email": False,
                        "dm_from": "following"}  # the others kept

    profile = f"/api/v1/users/{alice['user']['id']}"
    assert (await client.get(profile)).status_code == 404  # signed-in people only
    r = await client.get("/api/v1/search", params={"q": alice["user"]["username"], "type": "user"})
    assert r.status_code == 200, r.text
    assert alice["user"]["id"] not in r.text
    r = await client.get("/api/v1/search", params={"q": alice["user"]["username"], "type": "user"},
                         headers=bob["headers"])
    assert alice["user"]["id"] in r.text
    # Nor are whom she follows, who follow her, and how many, there for anonymous callers.
    for path in ("followers", "following", "follow"):
        r = await client.get(f"{profile}/{path}")
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "user_not_found"
        assert (await client.get(f"{profile}/{path}", headers=bob["headers"])).status_code == 200
    seen = await client.get(profile, headers=bob["headers"])
    assert seen.status_code == 200 and seen.json()["public_email"] is None
    await client.patch("/api/v1/users/me/privacy", headers=alice["headers"], json={"show_email": True})
    seen = await client.get(profile, headers=bob["headers"])
    assert seen.json()["public_email"] == alice["user"]["email"]

    # Chats only from people she follows: a direct chat is refused, a group add is an
    # invitation she has not accepted (0031)...
    r = await client.post("/api/v1/chat/rooms", headers=bob["headers"],
                          json={"user_id": alice["user"]["id"]})
    assert r.status_code == 403
    r = await client.post("/api/v1/chat/rooms", headers=bob["headers"],
                          json={"name": "Study", "member_ids": [alice["user"]["id"]]})
    assert r.status_code == 201
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_rooms WHERE type = 'direct'") == 0
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_room_participants WHERE user_id = $1::uuid",
        alice["user"]["id"]) == 0
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_invitations WHERE user_id = $1::uuid", alice["user"]["id"]) == 1
    # ...until she follows him; others are still refused.
    await client.put(f"/api/v1/users/{bob['user']['id']}/follow", headers=alice["headers"])
    r = await client.post("/api/v1/chat/rooms", headers=bob["headers"],
                          json={"user_id": alice["user"]["id"]})
    assert r.status_code == 201
    r = await client.post("/api/v1/chat/rooms", headers=carol["headers"],
                          json={"user_id": alice["user"]["id"]})
    assert r.status_code == 403


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(client):
    alice = await make_user(client)
    login = {"email": alice["user"]["email"], "password": alice["password"]}
    other = (await client.post("/api/v1/auth/login", json=login)).json()
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    r = await client.put("/api/v1/users/me/password", headers=alice["headers"],
                         json={"current_password": "not it", "new_password": "a new long secret"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    r = await client.put("/api/v1/users/me/password", headers=alice["headers"],
                         json={"current_password": alice["password"], "new_password": "short"})
    assert r.status_code == 422
    r = await client.put("/api/v1/users/me/password", headers=alice["headers"],
                         json={"current_password": alice["password"],
                               "new_password": "a new long secret"})
    assert r.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=alice["headers"])).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=other_headers)).status_code == 401
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 401
    r = await client.post("/api/v1/auth/login", json={**login, "password": "a new long secret"})
    assert r.status_code == 200


async def test_changing_the_email_needs_the_password_and_a_new_confirmation(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    await owner_conn.execute("UPDATE users SET is_verified = true WHERE id = $1::uuid",
                             alice["user"]["id"])
    r = await client.put("/api/v1/users/me/email", headers=alice["headers"],
                         json={"email": "new@example.org", "password": "wrong"})
    assert r.status_code == 403
    r = await client.put("/api/v1/users/me/email", headers=alice["headers"],
                         json={"email": bob["user"]["email"], "password": alice["password"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"
    r = await client.put("/api/v1/users/me/email", headers=alice["headers"],
                         json={"email": "New@Example.org", "password": alice["password"]})
    assert r.status_code == 204
    me = (await client.get("/api/v1/users/me", headers=alice["headers"])).json()
    assert (me["email"], me["is_verified"]) == ("new@example.org", False)
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM focushub_auth.mail_outbox WHERE to_email = 'new@example.org'") == 1
