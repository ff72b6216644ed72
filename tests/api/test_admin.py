"""The admin area: right totals, user management that takes effect at once, the audit log."""

from __future__ import annotations

from tests.api.conftest import admin_of, make_user
from tests.api.factories_qa import make_answer, make_question


async def test_only_admins_reach_the_admin_api(client, owner_conn):
    student = await make_user(client)
    for path in ("/api/v1/admin/stats", "/api/v1/admin/users", "/api/v1/admin/audit-log"):
        r = await client.get(path, headers=student["headers"])
        assert r.status_code == 403, path
        assert (await client.get(path)).status_code == 401
    r = await client.patch(f"/api/v1/admin/users/{student['user']['id']}",
                           headers=student["headers"], json={"role": "admin"})
    assert r.status_code == 403


async def test_totals_count_everything_not_only_what_an_admin_sees(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    await client.post("/api/v1/posts", headers=alice["headers"],
                      json={"title": "Draft", "content": "private", "is_published": False})
    q1 = await make_question(client, alice)
    await make_question(client, bob)
    await make_answer(client, bob, q1["id"])
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"type": "direct", "user_id": bob["user"]["id"]})
    await client.post(f"/api/v1/chat/rooms/{r.json()['id']}/messages", headers=alice["headers"],
                      json={"content": "hi"})
    admin = await admin_of(client, owner_conn)
    r = await client.get("/api/v1/admin/stats", headers=admin["headers"])
    assert r.status_code == 200
    stats = r.json()
    assert stats["users"] == 3 and stats["users_by_role"] == {"student": 2, "admin": 1}
    assert stats["posts"] == 1  # a draft nobody else can read is still a post
    assert (stats["questions"], stats["questions_answered"], stats["answered_ratio"]) == (2, 1, 0.5)
    assert stats["messages"] == 1  # a chat the admin is not in
    assert stats["active_1d"] == 3  # everyone logged in (sign-up counts as the first login)
    # This week's growth, empty weeks before it, the tags of the last 30 days.
    assert len(stats["weeks"]) == 12 and all(w["users"] == 0 for w in stats["weeks"][:-1])
    this_week = stats["weeks"][-1]
    assert (this_week["users"], this_week["posts"], this_week["questions"],
            this_week["answers"], this_week["messages"]) == (3, 1, 2, 1, 1)
    assert stats["top_tags"] == [{"tag": "learning", "uses": 2}]
    assert (stats["open_reports"], stats["reported_targets"]) == (0, 0)


async def test_deactivation_is_immediate_logged_and_listed(client, owner_conn):
    admin = await admin_of(client, owner_conn)
    carol = await make_user(client, email="carol@example.org")
    r = await client.get("/api/v1/admin/users", params={"q": "carol@"}, headers=admin["headers"])
    (listed,) = r.json()["items"]
    assert listed["email"] == "carol@example.org" and listed["is_active"] is True
    r = await client.patch(f"/api/v1/admin/users/{carol['user']['id']}", headers=admin["headers"],
                           json={"is_active": False, "reason": "spam"})
    assert r.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=carol["headers"])).status_code == 401
    r = await client.get("/api/v1/admin/audit-log", headers=admin["headers"])
    (entry,) = r.json()["items"]
    assert entry["action"] == "user.update" and entry["reason"] == "spam"
    assert entry["target_id"] == carol["user"]["id"] and entry["actor_id"] == admin["user"]["id"]
    # Named, so that the log reads "by @admin … @carol"; the deactivated account too.
    assert entry["actor_username"] == admin["user"]["username"]
    assert entry["target_username"] == carol["user"]["username"]
    assert entry["details"] == {"is_active": [True, False]}
    assert entry["request_id"]
    r = await client.patch(f"/api/v1/admin/users/{admin['user']['id']}", headers=admin["headers"],
                           json={"role": "student"})
    assert r.status_code == 409  # not one's own


async def test_spam_signals_surface_the_spammer_not_the_regulars(client, owner_conn):
    admin = await admin_of(client, owner_conn)
    spammer, regular = await make_user(client), await make_user(client)
    victims = [await make_user(client) for _ in range(5)]
    for victim in victims:
        r = await client.post("/api/v1/chat/rooms", headers=spammer["headers"],
                              json={"user_id": victim["user"]["id"]})
        room = r.json()["id"]
        await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=spammer["headers"],
                          json={"content": "Cheap essays at spam.example"})
        await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=victim["headers"],
                          json={"content": "who are you?"})
    for victim in victims[:3]:
        await client.put(f"/api/v1/users/{spammer['user']['id']}/block", headers=victim["headers"])
    # The regular chats with one friend and says hi twice: nothing to see.
    r = await client.post("/api/v1/chat/rooms", headers=regular["headers"],
                          json={"user_id": victims[0]["user"]["id"]})
    assert (await client.get("/api/v1/admin/signals", headers=spammer["headers"])).status_code == 403
    r = await client.get("/api/v1/admin/signals", headers=admin["headers"])
    assert r.status_code == 200
    (signal,) = r.json()
    assert signal["user_id"] == spammer["user"]["id"]
    assert (signal["blocks_received"], signal["repeated_texts"], signal["rooms_with_strangers"]) \
        == (3, 5, 5)


async def test_reactivating_lifts_a_suspension_and_the_listing_shows_it(client, owner_conn):
    from datetime import UTC, datetime, timedelta

    admin = await admin_of(client, owner_conn)
    dan = await make_user(client, email="dan@example.org")
    until = datetime.now(UTC) + timedelta(days=3)
    r = await client.post(f"/api/v1/admin/reports/user/{dan['user']['id']}",
                          headers=admin["headers"],
                          json={"action": "suspend", "reason": "Cool off",
                                "suspend_until": until.isoformat()})
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/admin/users", params={"q": "dan@"}, headers=admin["headers"])
    (listed,) = r.json()["items"]
    assert listed["is_active"] is True
    assert listed["suspended_until"][:16] == until.isoformat()[:16]
    login = {"email": "dan@example.org", "password": dan["password"]}
    r = await client.post("/api/v1/auth/login", json=login)
    assert r.status_code == 403 and r.json()["error"]["code"] == "suspended_user"

    r = await client.patch(f"/api/v1/admin/users/{dan['user']['id']}", headers=admin["headers"],
                           json={"is_active": True, "reason": "Appeal granted"})
    assert r.status_code == 204
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    r = await client.get("/api/v1/admin/users", params={"q": "dan@"}, headers=admin["headers"])
    (listed,) = r.json()["items"]
    assert listed["suspended_until"] is None
    r = await client.get("/api/v1/admin/audit-log", params={"action": "user."},
                         headers=admin["headers"])
    (entry,) = r.json()["items"]
    assert entry["reason"] == "Appeal granted"
    assert entry["details"]["suspended_until"][0][:16] == until.isoformat()[:16]
    assert entry["details"]["suspended_until"][1] is None
    # The documented way to lift it.
    doc = (await client.get("/openapi.json")).json()
    described = doc["components"]["schemas"]["AdminUserUpdate"]["properties"]["is_active"]
    assert "suspension" in described["description"]


async def test_searching_people_takes_percent_and_underscore_literally(client, owner_conn):
    admin = await admin_of(client, owner_conn)
    await make_user(client, username="ann_lee")
    await make_user(client, username="annxlee")
    await make_user(client, username="ann100pct", full_name="Ann 100% sure")
    found = {}
    for q in ("ann_lee", "100%", "%", "_"):
        r = await client.get("/api/v1/admin/users", params={"q": q}, headers=admin["headers"])
        assert r.status_code == 200, r.text
        found[q] = sorted(u["username"] for u in r.json()["items"])
    assert (found["ann_lee"], found["100%"], found["%"]) == (["ann_lee"], ["ann100pct"],
                                                            ["ann100pct"])
    # Whoever has an underscore (the admin's generated name may), never everyone.
    assert "ann_lee" in found["_"] and not {"annxlee", "ann100pct"} & set(found["_"])


async def test_the_largest_page_of_people_still_leads_to_the_rest(client, owner_conn):
    """``limit=100`` (the largest page) over more than 100 people: the database function
    returns at most 100 rows, so the look-ahead row that says there is more never came and
    the next page's cursor was null; everyone past the first 100 was out of reach."""
    admin = await admin_of(client, owner_conn)
    await owner_conn.execute(
        "INSERT INTO users (email, full_name, username, created_at)"
        " SELECT 'crowd' || i || '@example.org', CASE WHEN i <= 100 THEN 'Crowd A' ELSE 'Crowd B' END,"
        "        'crowd_' || i,"
        "        now() - i * interval '1 minute'"
        " FROM generate_series(1, 150) i")
    everyone = await owner_conn.fetchval("SELECT count(*) FROM users")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/admin/users", params=params, headers=admin["headers"])
        assert r.status_code == 200, r.text
        seen += [u["id"] for u in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == everyone
    # A page that ends exactly at the last person says so.
    r = await client.get("/api/v1/admin/users", params={"limit": 100, "q": "Crowd A"},
                         headers=admin["headers"])
    assert r.status_code == 200
    assert (len(r.json()["items"]), r.json()["next_cursor"]) == (100, None)


async def test_an_admin_deleting_someones_post_is_logged_and_the_author_told(client, owner_conn):
    admin = await admin_of(client, owner_conn)
    author, reader = await make_user(client), await make_user(client)
    r = await client.post("/api/v1/posts", headers=author["headers"],
                          json={"title": "Buy cheap essays", "content": "link in bio"})
    post = r.json()
    r = await client.post("/api/v1/reports", headers=reader["headers"],
                          json={"target_type": "post", "target_id": post["id"], "reason": "spam"})
    assert r.status_code == 201
    r = await client.delete(f"/api/v1/posts/{post['id']}", headers=admin["headers"])
    assert r.status_code == 204
    r = await client.get("/api/v1/admin/audit-log", headers=admin["headers"])
    entry = r.json()["items"][0]
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "moderation.delete", "post", post["id"])
    assert entry["details"]["through"] == "delete" and entry["details"]["reports_resolved"] == 1
    assert (await client.get("/api/v1/admin/reports", headers=admin["headers"])).json()["items"] == []
    r = await client.get("/api/v1/notifications", headers=author["headers"])
    assert [n["title"] for n in r.json()["items"]] == ["A moderator removed your post"]
    # The author deleting their own post is no moderation.
    r = await client.post("/api/v1/posts", headers=author["headers"],
                          json={"title": "Second try", "content": "notes"})
    await client.delete(f"/api/v1/posts/{r.json()['id']}", headers=author["headers"])
    r = await client.get("/api/v1/admin/audit-log", headers=admin["headers"])
    assert [e["action"] for e in r.json()["items"]].count("moderation.delete") == 1
