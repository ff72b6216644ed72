"""Account export (a zip of JSON documents and the uploads) and account deletion."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from tests.api.conftest import admin_of, follow, make_user
from tests.api.factories_content import make_comment, make_post
from tests.api.factories_qa import make_answer, make_question
from tests.api.files_support import png


async def test_export_holds_my_data_and_my_uploads_and_nobody_elses(env, owner_conn):
    client = env.client
    alice, bob = await make_user(client), await make_user(client)
    post = await make_post(client, alice, title="Alice learns SQL")
    await make_post(client, bob, title="Bob's own post")
    comment = await make_comment(client, alice, post["id"])
    q = await make_question(client, bob)
    answer = await make_answer(client, alice, q["id"])
    r = await client.put(f"/api/v1/questions/{q['id']}/vote", headers=alice["headers"],
                         json={"vote_type": "upvote"})
    assert r.status_code == 200, r.text
    r = await client.put(f"/api/v1/users/{bob['user']['id']}/follow", headers=alice["headers"])
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"type": "direct", "user_id": bob["user"]["id"]})
    room = r.json()["id"]
    await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=alice["headers"],
                      json={"content": "mine"})
    await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=bob["headers"],
                      json={"content": "bob's words"})
    picture = png((64, 64), "navy")
    r = await client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                         files={"file": ("me.png", picture, "image/png")})
    assert r.status_code == 200, r.text

    assert (await client.get("/api/v1/users/me/export")).status_code == 401
    r = await client.get("/api/v1/users/me/export", headers=alice["headers"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert f"focushub-export-{alice['user']['username']}-" in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    doc = {name: json.loads(archive.read(name)) for name in archive.namelist()
           if name.endswith(".json")}
    assert doc["account.json"]["email"] == alice["user"]["email"]
    assert [p["title"] for p in doc["posts.json"]] == ["Alice learns SQL"]
    assert [c["id"] for c in doc["comments.json"]] == [comment["id"]]
    assert [a["id"] for a in doc["answers.json"]] == [answer["id"]]
    assert doc["questions.json"] == []
    assert [(v["votable_id"], v["vote_type"]) for v in doc["votes.json"]] == [(q["id"], "upvote")]
    assert [f["following_id"] for f in doc["following.json"]] == [bob["user"]["id"]]
    assert [m["content"] for m in doc["chat_messages.json"]] == ["mine"]
    assert [room_["room_id"] for room_ in doc["chat_rooms.json"]] == [room]
    assert "search_vector" not in doc["posts.json"][0]
    # The uploads: the avatar's stored images, byte for byte as the store has them.
    uploads = [n for n in archive.namelist() if n.startswith("files/")]
    assert len(uploads) == len(doc["files.json"]) >= 1
    by_id = {f["id"]: f for f in doc["files.json"]}
    for name in uploads:
        meta = by_id[name.removeprefix("files/")[:36]]  # files/<file id>-<file name>
        assert hashlib.sha256(archive.read(name)).hexdigest() == meta["sha256"]
    assert "storage_key" not in doc["files.json"][0]
    assert b"bob's words" not in b"".join(archive.read(n) for n in archive.namelist())


async def test_deleting_my_account_takes_what_i_made_and_keeps_the_rest(env, owner_conn):
    client = env.client
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    bobs_post = await make_post(client, bob)
    await make_post(client, alice)
    r = await client.put(f"/api/v1/posts/{bobs_post['id']}/vote", headers=alice["headers"],
                         json={"vote_type": "upvote"})
    assert r.status_code == 200, r.text
    await make_comment(client, alice, bobs_post["id"])
    r = await client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                         files={"file": ("me.png", png(), "image/png")})
    assert r.status_code == 200
    # A group room Alice created, with Bob and Carol in it (they follow her: added, not
    # invited), and a direct room with Bob.
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"type": "group", "name": "Study group",
                                "member_ids": [bob["user"]["id"], carol["user"]["id"]]})
    assert r.status_code == 201, r.text
    group = r.json()["id"]
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"type": "direct", "user_id": bob["user"]["id"]})
    direct = r.json()["id"]
    await client.post(f"/api/v1/chat/rooms/{direct}/messages", headers=alice["headers"],
                      json={"content": "a secret from alice"})
    await client.post(f"/api/v1/chat/rooms/{direct}/messages", headers=bob["headers"],
                      json={"content": "bob replies"})
    r = await client.post("/api/v1/reports", headers=alice["headers"],
                          json={"target_type": "post", "target_id": bobs_post["id"],
                                "reason": "wrong"})
    assert r.status_code == 201
    objects_before = await env.objects()

    r = await client.request("DELETE", "/api/v1/users/me", headers=alice["headers"],
                             json={"password": "not my password"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    assert (await client.get("/api/v1/users/me", headers=alice["headers"])).status_code == 200
    r = await client.request("DELETE", "/api/v1/users/me", headers=alice["headers"],
                             json={"password": alice["password"]})
    assert r.status_code == 204, r.text

    assert (await client.get("/api/v1/users/me", headers=alice["headers"])).status_code == 401
    r = await client.post("/api/v1/auth/login", json={"email": alice["user"]["email"],
                                                      "password": alice["password"]})
    assert r.status_code == 401
    r = await client.get(f"/api/v1/posts/{bobs_post['id']}", headers=bob["headers"])
    assert (r.json()["likes_count"], r.json()["comments_count"]) == (0, 0)
    # The group room lives on with its other members; one of them leads it now.
    r = await client.get(f"/api/v1/chat/rooms/{group}/participants", headers=bob["headers"])
    assert r.status_code == 200
    members = {p["user_id"]: p["role"] for p in r.json()}
    assert set(members) == {bob["user"]["id"], carol["user"]["id"]}
    assert "admin" in members.values()
    # The direct room is archived for Bob, his own words kept, Alice's gone everywhere.
    r = await client.get(f"/api/v1/chat/rooms/{direct}", headers=bob["headers"])
    assert r.json()["is_active"] is False
    r = await client.get(f"/api/v1/chat/rooms/{direct}/messages", headers=bob["headers"])
    assert [m["content"] for m in r.json()["items"] if m["message_type"] == "text"] == ["bob replies"]
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_room_events WHERE payload::text LIKE '%secret from alice%'") == 0
    # Her report still counts, without her name; the audit log keeps the deletion.
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM reports WHERE reporter_id IS NULL AND status = 'open'") == 1
    entry = await owner_conn.fetchrow("SELECT * FROM audit_log WHERE action = 'user.deleted'")
    assert str(entry["target_id"]) == alice["user"]["id"]
    assert json.loads(entry["details"])["posts"] == 1
    # Her uploads leave the store with the purge job.
    await env.work()
    assert len(await env.objects()) == len(objects_before) - 3  # the avatar's three sizes


async def test_an_admin_can_leave_but_not_the_last_one(client, owner_conn):
    first = await admin_of(client, owner_conn)
    student = await make_user(client)
    r = await client.patch(f"/api/v1/admin/users/{student['user']['id']}",
                           headers=first["headers"], json={"is_active": False, "reason": "test"})
    assert r.status_code == 204
    r = await client.request("DELETE", "/api/v1/users/me", headers=first["headers"],
                             json={"password": first["password"]})
    assert r.status_code == 409  # nobody would be left to run the site
    second = await admin_of(client, owner_conn)
    r = await client.request("DELETE", "/api/v1/users/me", headers=first["headers"],
                             json={"password": first["password"]})
    assert r.status_code == 204, r.text
    # Their audit entries remain, without their id.
    r = await client.get("/api/v1/admin/audit-log", params={"action": "user.update"},
                         headers=second["headers"])
    (entry,) = r.json()["items"]
    assert entry["actor_id"] is None and entry["target_id"] == student["user"]["id"]


async def test_deleting_my_account_checks_the_password_under_the_login_limit(client, owner_conn):
    """The password check of a deletion is not a password oracle: it shares the account's
    login limit with changing the password or the email."""
    alice = await make_user(client)
    codes = []
    for _ in range(25):
        r = await client.request("DELETE", "/api/v1/users/me", headers=alice["headers"],
                                 json={"password": "a wrong guess"})
        codes.append(r.status_code)
    assert codes[:20] == [403] * 20
    assert codes[20:] == [429] * 5
    r = await client.request("DELETE", "/api/v1/users/me", headers=alice["headers"],
                             json={"password": alice["password"]})
    assert r.status_code == 429
    r = await client.put("/api/v1/users/me/password", headers=alice["headers"],
                         json={"current_password": alice["password"],
                               "new_password": "a new long secret"})
    assert r.status_code == 429
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM users WHERE id = $1::uuid", alice["user"]["id"]) == 1


async def test_exports_built_in_the_request_are_limited_per_account(client):
    """Each one reads the account's uploads (up to 100 MB) into a temporary zip and sends
    it: called in a loop or in parallel, without a limit, they filled the disk and the
    network. The limit is the account's; the export job stays open to it."""
    alice, bob = await make_user(client), await make_user(client)
    codes = [(await client.get("/api/v1/users/me/export", headers=alice["headers"])).status_code
             for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    r = await client.get("/api/v1/users/me/export", headers=alice["headers"])
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.json()["error"]["code"] == "rate_limited"
    assert (await client.get("/api/v1/users/me/export", headers=bob["headers"])).status_code == 200
    r = await client.post("/api/v1/users/me/export", headers=alice["headers"])
    assert r.status_code == 202, r.text


async def test_the_export_of_my_reports_names_neither_the_moderator_nor_their_note(
        env, owner_conn):
    client = env.client
    alice, bob = await make_user(client), await make_user(client)
    admin = await admin_of(client, owner_conn)
    post = await make_post(client, bob, title="Cheap watches")
    r = await client.post("/api/v1/reports", headers=alice["headers"],
                          json={"target_type": "post", "target_id": post["id"], "reason": "spam"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/admin/reports/post/{post['id']}", headers=admin["headers"],
                          json={"action": "dismiss", "reason": "this reporter holds a grudge"})
    assert r.status_code == 200, r.text

    r = await client.get("/api/v1/users/me/export", headers=alice["headers"])
    assert r.status_code == 200, r.text
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    (report,) = json.loads(archive.read("reports.json"))
    assert (report["target_id"], report["status"]) == (post["id"], "dismissed")
    assert report["resolved_at"] is not None
    assert "resolution" not in report and "resolved_by" not in report
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert b"grudge" not in everything
    assert admin["user"]["id"].encode() not in everything
