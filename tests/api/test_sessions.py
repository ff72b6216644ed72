"""Ending a session ends its access token at once: logout, refresh-token reuse, deactivation."""

from __future__ import annotations

from tests.api.conftest import make_user


async def test_logout_revokes_the_access_token_at_once(client):
    alice = await make_user(client)
    assert (await client.get("/api/v1/users/me", headers=alice["headers"])).status_code == 200
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": alice["refresh_token"]})
    assert r.status_code == 204
    r = await client.get("/api/v1/users/me", headers=alice["headers"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_ended"
    # Public pages still answer: the caller is refused, not the request made anonymous.
    r = await client.get("/api/v1/posts", headers=alice["headers"])
    assert r.status_code == 401


async def test_reusing_a_spent_refresh_token_ends_the_access_tokens_of_its_family(
        client, owner_conn):
    bob = await make_user(client)
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": bob["refresh_token"]})
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 200
    # Replayed later than a client's own race (0052).
    await owner_conn.execute(
        "UPDATE focushub_auth.refresh_tokens SET spent_at = spent_at - interval '11 seconds'"
        " WHERE user_id = $1::uuid AND spent_at IS NOT NULL", bob["user"]["id"])
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": bob["refresh_token"]})
    assert r.status_code == 401  # stolen token replayed: the family is revoked
    for headers in (fresh, bob["headers"]):
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 401


async def test_deactivation_takes_effect_at_once_and_other_sessions_survive_a_logout(
        client, owner_conn):
    carol = await make_user(client)
    r = await client.post("/api/v1/auth/login", json={"email": carol["user"]["email"],
                                                      "password": carol["password"]})
    laptop = {"Authorization": f"Bearer {r.json()['access_token']}"}
    await client.post("/api/v1/auth/logout", json={"refresh_token": carol["refresh_token"]})
    assert (await client.get("/api/v1/users/me", headers=laptop)).status_code == 200
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1::uuid",
                             carol["user"]["id"])
    assert (await client.get("/api/v1/users/me", headers=laptop)).status_code == 401
