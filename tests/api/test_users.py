"""Profiles through HTTP: own account, public profiles, what others may not see."""

from __future__ import annotations

from tests.api.conftest import make_user
from tests.api.factories_content import make_post
from tests.api.factories_qa import make_answer, make_question


async def test_patch_me_changes_content_columns_only(client):
    session = await make_user(client, username="pat")
    r = await client.patch(
        "/api/v1/users/me",
        headers=session["headers"],
        json={"full_name": "Pat Lee", "bio": "Learning Rust", "avatar_url": None,
              "username": "Pat_Lee"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["full_name"], body["bio"], body["username"]) == ("Pat Lee", "Learning Rust", "pat_lee")
    assert body["avatar_url"] is None

    for field, value in (("role", "admin"), ("is_verified", True), ("is_active", True), ("email", "x@y.org")):
        r = await client.patch("/api/v1/users/me", headers=session["headers"], json={field: value})
        assert r.status_code == 422, (field, r.text)
    me = (await client.get("/api/v1/users/me", headers=session["headers"])).json()
    assert me["role"] == "student" and me["is_verified"] is False


async def test_patch_me_rejects_bad_values(client):
    session = await make_user(client)
    for payload in ({"username": "no spaces"}, {"username": "x" * 51}, {"username": None},
                    {"full_name": ""}, {"full_name": "x" * 256}, {"avatar_url": "javascript:alert(1)"}):
        r = await client.patch("/api/v1/users/me", headers=session["headers"], json=payload)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["error"]["code"] == "validation_error"


async def test_username_change_to_taken_one_is_409(client):
    await make_user(client, username="taken")
    session = await make_user(client)
    r = await client.patch("/api/v1/users/me", headers=session["headers"], json={"username": "taken"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "username_taken"


async def test_public_profile_hides_email(client):
    await make_user(client, username="public_one", email="secret@example.org")
    viewer = await make_user(client)
    for headers in ({}, viewer["headers"]):
        r = await client.get("/api/v1/users/public_one", headers=headers)
        assert r.status_code == 200
        body = r.json()
        assert body["username"] == "public_one"
        assert "email" not in body and "last_login" not in body
    missing = await client.get("/api/v1/users/nobody_here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "user_not_found"


async def test_a_profile_by_id_or_username_with_counts_and_follow_state(client):
    alice, bob = await make_user(client), await make_user(client)
    await make_post(client, alice)
    await make_post(client, alice, is_published=False)  # a draft counts for nobody else
    q = await make_question(client, alice)
    await make_answer(client, alice, q["id"])
    await client.put(f"/api/v1/users/{alice['user']['id']}/follow", headers=bob["headers"])
    by_id = await client.get(f"/api/v1/users/{alice['user']['id']}", headers=bob["headers"])
    by_name = await client.get(f"/api/v1/users/{alice['user']['username'].upper()}",
                               headers=bob["headers"])
    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json() == by_name.json()
    profile = by_id.json()
    counts = {k: profile[k] for k in ("followers_count", "following_count", "posts_count",
                                      "questions_count", "answers_count", "is_following")}
    assert counts == {"followers_count": 1, "following_count": 0, "posts_count": 1,
                      "questions_count": 1, "answers_count": 1, "is_following": True}
    anon = (await client.get(f"/api/v1/users/{alice['user']['id']}")).json()
    assert anon["is_following"] is None and "email" not in anon
    mine = (await client.get(f"/api/v1/users/{bob['user']['id']}", headers=bob["headers"])).json()
    assert mine["is_following"] is False and mine["following_count"] == 1
    r = await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404


async def test_a_room_with_a_user_id_and_no_type_is_direct(client):
    alice, bob = await make_user(client), await make_user(client)
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"user_id": bob["user"]["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "direct"
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"], json={"name": "Club"})
    assert r.status_code == 201 and r.json()["type"] == "group"


async def test_a_username_that_reads_as_an_id_still_finds_its_profile(client):
    """Usernames may be 32 hex digits, which UUID() reads as an id written without hyphens:
    such a username finds its own profile, and an id in its usual form finds its owner."""
    hexname = "0123456789abcdef0123456789abcdef"
    alice = await make_user(client, username=hexname)
    bob = await make_user(client, username=alice["user"]["id"].replace("-", ""))
    for ref, owner in ((hexname, alice), (hexname.upper(), alice),
                       (alice["user"]["id"], alice),
                       (alice["user"]["id"].replace("-", ""), bob),
                       (bob["user"]["id"], bob)):
        r = await client.get(f"/api/v1/users/{ref}")
        assert r.status_code == 200, (ref, r.text)
        assert r.json()["id"] == owner["user"]["id"], ref
    page = await client.get(f"/u/{hexname}")  # the profile page, by the same lookup
    assert page.status_code == 200 and f"@{hexname}" in page.text


async def test_a_name_must_show_as_something(client):
    session = await make_user(client)
    for name in ("\u200b", "\u200b\u200c", "\x01", "Ada\nLovelace", "Ada\x00", "\u00ad", "..."):
        r = await client.patch("/api/v1/users/me", headers=session["headers"],
                               json={"full_name": name})
        assert r.status_code == 422, (name, r.text)
        r = await client.post("/api/v1/auth/signup", json={
            "email": "blank@example.org", "password": "a long enough secret",
            "full_name": name, "username": "blank_name"})
        assert r.status_code == 422, (name, r.text)
    # Letters of any script, digits, emoji, and joiners beside letters are names.
    for name in ("Zoë Ng", "محمد\u200cرضا", "李小龙", "R2-D2", "🦉"):
        r = await client.patch("/api/v1/users/me", headers=session["headers"],
                               json={"full_name": name})
        assert r.status_code == 200 and r.json()["full_name"] == name, (name, r.text)
