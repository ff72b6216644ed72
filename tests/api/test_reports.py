"""Reports, the hide threshold, the moderation queue and every moderation action, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import admin_of, make_user
from tests.api.factories_content import make_comment, make_post
from tests.api.factories_qa import make_question


async def report(client, session, target_type, target_id, reason="spam", **extra):
    return await client.post("/api/v1/reports", headers=session["headers"],
                             json={"target_type": target_type, "target_id": target_id,
                                   "reason": reason, **extra})


async def notifications_of(client, session) -> list[dict]:
    r = await client.get("/api/v1/notifications", headers=session["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_reports_hide_at_the_threshold_and_only_reporters_see_their_reports(client, owner_conn):
    author = await make_user(client)
    reporters = [await make_user(client) for _ in range(3)]
    post = await make_post(client, author)
    for n, reporter in enumerate(reporters[:2]):
        r = await report(client, reporter, "post", post["id"], reason="other" if n else "spam",
                         details="It is an advert" if n else None)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "open"
    # Two reports: still visible to everyone.
    assert (await client.get(f"/api/v1/posts/{post['id']}")).status_code == 200
    # One open report per reporter and target.
    r = await report(client, reporters[0], "post", post["id"], reason="harassment")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_reported"
    r = await report(client, reporters[2], "post", post["id"])
    assert r.status_code == 201
    # The third hides it from everyone but its author (and admins).
    assert (await client.get(f"/api/v1/posts/{post['id']}")).status_code == 404
    r = await client.get(f"/api/v1/posts/{post['id']}", headers=reporters[0]["headers"])
    assert r.status_code == 404
    r = await client.get(f"/api/v1/posts/{post['id']}", headers=author["headers"])
    assert r.status_code == 200
    admin = await admin_of(client, owner_conn)
    r = await client.get(f"/api/v1/posts/{post['id']}", headers=admin["headers"])
    assert r.status_code == 200
    (note,) = [n for n in await notifications_of(client, author)
               if (n["data"] or {}).get("kind") == "moderation"]
    assert note["data"]["action"] == "auto_hide" and "review" in note["title"]
    # Each reporter reads their own report; the reported author reads none, nor who reported.
    r = await client.get("/api/v1/reports", headers=reporters[1]["headers"])
    (mine,) = r.json()["items"]
    assert mine["details"] == "It is an advert" and mine["target_id"] == post["id"]
    r = await client.get("/api/v1/reports", headers=author["headers"])
    assert r.json()["items"] == []
    assert all("reporter" not in str(n) for n in await notifications_of(client, author))


async def test_what_cannot_be_reported(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    own = await make_post(client, alice)
    draft = await make_post(client, bob, is_published=False)
    r = await report(client, alice, "post", own["id"])
    assert r.status_code == 422  # one's own content
    r = await report(client, alice, "user", alice["user"]["id"])
    assert r.status_code == 422  # oneself
    r = await report(client, alice, "post", draft["id"])
    assert r.status_code == 404  # what one cannot see
    r = await report(client, alice, "comment", own["id"])
    assert r.status_code == 404  # no comment has this id
    r = await report(client, alice, "post", own["id"], reason="other")
    assert r.status_code == 422  # "other" says why
    r = await report(client, alice, "planet", own["id"])
    assert r.status_code == 422
    r = await client.post("/api/v1/reports", json={"target_type": "post", "target_id": own["id"],
                                                   "reason": "spam"})
    assert r.status_code == 401
    assert await owner_conn.fetchval("SELECT count(*) FROM reports") == 0


async def test_queue_then_dismiss_shows_the_content_again(client, owner_conn):
    author = await make_user(client)
    admin = await admin_of(client, owner_conn)
    r = await client.patch("/api/v1/admin/moderation-settings", headers=admin["headers"],
                           json={"hide_threshold": 2, "reason": "small school"})
    assert r.status_code == 200 and r.json()["hide_threshold"] == 2
    q = await make_question(client, author)
    busy = await make_post(client, author)
    reporters = [await make_user(client) for _ in range(2)]
    assert (await report(client, reporters[0], "question", q["id"], reason="wrong")).status_code == 201
    for reporter in reporters:
        assert (await report(client, reporter, "post", busy["id"])).status_code == 201
    student = reporters[0]
    r = await client.get("/api/v1/admin/reports", headers=student["headers"])
    assert r.status_code == 403
    r = await client.get("/api/v1/admin/reports", params={"limit": 1}, headers=admin["headers"])
    assert r.status_code == 200
    first = r.json()
    (top,) = first["items"]
    assert (top["target_id"], top["open_reports"], top["reasons"]) == (busy["id"], 2, {"spam": 2})
    assert top["state"] == "hidden" and top["snapshot"]["title"] == busy["title"]
    assert top["author_username"] == author["user"]["username"]
    assert "reporter_id" not in top
    r = await client.get("/api/v1/admin/reports", params={"cursor": first["next_cursor"]},
                         headers=admin["headers"])
    (second,) = r.json()["items"]
    assert (second["target_id"], second["state"]) == (q["id"], "visible")
    assert r.json()["next_cursor"] is None
    assert (await client.get(f"/api/v1/posts/{busy['id']}")).status_code == 404

    r = await client.post(f"/api/v1/admin/reports/post/{author['user']['id']}",
                          headers=admin["headers"], json={"action": "dismiss"})
    assert r.status_code == 404, r.text  # no post has that id, and none was reported
    assert r.json()["error"]["code"] == "not_found"
    r = await client.post(f"/api/v1/admin/reports/post/{busy['id']}", headers=admin["headers"],
                          json={"action": "dismiss"})
    assert r.status_code == 200, r.text
    assert r.json() == {"reports_resolved": 2, "author_id": author["user"]["id"], "state": "visible"}
    assert (await client.get(f"/api/v1/posts/{busy['id']}")).status_code == 200
    r = await client.get("/api/v1/reports", headers=reporters[0]["headers"])
    statuses = {i["target_id"]: i["status"] for i in r.json()["items"]}
    assert statuses == {busy["id"]: "dismissed", q["id"]: "open"}
    # A dismissed report no longer blocks a new one.
    assert (await report(client, reporters[0], "post", busy["id"])).status_code == 201
    r = await client.get("/api/v1/admin/audit-log", params={"action": "settings."},
                         headers=admin["headers"])
    (entry,) = r.json()["items"]
    assert entry["details"] == {"hide_threshold": [3, 2]} and entry["reason"] == "small school"


async def test_hide_and_delete_tell_the_author_why(client, owner_conn):
    author, reporter = await make_user(client), await make_user(client)
    admin = await admin_of(client, owner_conn)
    post = await make_post(client, author)
    comment = await make_comment(client, author, post["id"])
    await report(client, reporter, "post", post["id"])
    await report(client, reporter, "comment", comment["id"], reason="harassment")

    r = await client.post(f"/api/v1/admin/reports/post/{post['id']}", headers=admin["headers"],
                          json={"action": "hide"})
    assert r.status_code == 422  # a reason is required
    r = await client.post(f"/api/v1/admin/reports/post/{post['id']}", headers=admin["headers"],
                          json={"action": "hide", "reason": "Advertising"})
    assert r.status_code == 200 and r.json()["state"] == "hidden"
    assert (await client.get(f"/api/v1/posts/{post['id']}")).status_code == 404
    r = await client.post(f"/api/v1/admin/reports/comment/{comment['id']}",
                          headers=admin["headers"], json={"action": "delete", "reason": "Insults"})
    assert r.status_code == 200 and r.json()["state"] == "deleted"
    assert await owner_conn.fetchval("SELECT count(*) FROM comments") == 0
    notes = {n["data"]["action"]: n for n in await notifications_of(client, author)
             if (n["data"] or {}).get("kind") == "moderation"}
    assert notes["hide"]["message"] == "Advertising" and "hid your post" in notes["hide"]["title"]
    assert notes["delete"]["message"] == "Insults"
    r = await client.post(f"/api/v1/admin/reports/comment/{comment['id']}",
                          headers=admin["headers"], json={"action": "delete", "reason": "again"})
    assert r.status_code == 409  # nothing left to delete
    r = await client.get("/api/v1/admin/audit-log", params={"action": "moderation."},
                         headers=admin["headers"])
    actions = [(e["action"], e["target_id"], e["reason"]) for e in r.json()["items"]]
    assert actions == [("moderation.delete", comment["id"], "Insults"),
                       ("moderation.hide", post["id"], "Advertising")]
    assert all(e["request_id"] for e in r.json()["items"])


async def test_warn_suspend_and_deactivate_take_effect_at_once(client, owner_conn):
    troll, victim = await make_user(client), await make_user(client)
    admin = await admin_of(client, owner_conn)
    await report(client, victim, "user", troll["user"]["id"], reason="harassment")
    r = await client.post(f"/api/v1/admin/reports/user/{troll['user']['id']}",
                          headers=admin["headers"], json={"action": "hide", "reason": "x"})
    assert r.status_code == 422  # people are not hidden
    r = await client.post(f"/api/v1/admin/reports/user/{troll['user']['id']}",
                          headers=admin["headers"], json={"action": "warn", "reason": "Be kind"})
    assert r.status_code == 200 and r.json()["reports_resolved"] == 1
    (warning,) = [n for n in await notifications_of(client, troll)
                  if (n["data"] or {}).get("action") == "warn"]
    assert warning["message"] == "Be kind"

    until = datetime.now(UTC) + timedelta(days=3)
    r = await client.post(f"/api/v1/admin/reports/user/{troll['user']['id']}",
                          headers=admin["headers"], json={"action": "suspend", "reason": "Again"})
    assert r.status_code == 422  # a suspension has an end
    r = await client.post(f"/api/v1/admin/reports/user/{troll['user']['id']}",
                          headers=admin["headers"],
                          json={"action": "suspend", "reason": "Again",
                                "suspend_until": until.isoformat()})
    assert r.status_code == 200 and r.json()["state"] == "suspended", r.text
    # The access token stops working on the next request; sign-in says until when.
    assert (await client.get("/api/v1/users/me", headers=troll["headers"])).status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": troll["refresh_token"]})
    assert r.status_code == 401
    login = {"email": troll["user"]["email"], "password": troll["password"]}
    r = await client.post("/api/v1/auth/login", json=login)
    assert r.status_code == 403 and r.json()["error"]["code"] == "suspended_user"
    assert r.json()["error"]["details"]["suspended_until"][:16] == until.isoformat()[:16]
    # When it ends, the account works again.
    await owner_conn.execute(
        "UPDATE users SET suspended_until = now() - interval '1 second' WHERE id = $1::uuid",
        troll["user"]["id"])
    r = await client.post("/api/v1/auth/login", json=login)
    assert r.status_code == 200
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post(f"/api/v1/admin/reports/user/{troll['user']['id']}",
                          headers=admin["headers"], json={"action": "deactivate", "reason": "Done"})
    assert r.status_code == 200 and r.json()["state"] == "deactivated"
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 401
    r = await client.post(f"/api/v1/admin/reports/user/{admin['user']['id']}",
                          headers=admin["headers"], json={"action": "warn", "reason": "me"})
    assert r.status_code == 409  # admins do not moderate themselves


async def test_force_logout_ends_every_session(client, owner_conn):
    user = await make_user(client)
    admin = await admin_of(client, owner_conn)
    r = await client.post(f"/api/v1/admin/users/{user['user']['id']}/end-sessions",
                          headers=user["headers"], json={"reason": "mine"})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/admin/users/{user['user']['id']}/end-sessions",
                          headers=admin["headers"], json={"reason": "Lost laptop"})
    assert r.status_code == 200 and r.json()["tokens_revoked"] == 1
    assert (await client.get("/api/v1/users/me", headers=user["headers"])).status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert r.status_code == 401
    r = await client.get("/api/v1/admin/audit-log",
                         params={"action": "user.end_sessions", "target_id": user["user"]["id"]},
                         headers=admin["headers"])
    (entry,) = r.json()["items"]
    assert entry["reason"] == "Lost laptop" and entry["details"] == {"tokens_revoked": 1}


async def test_refresh_token_reuse_is_a_logged_security_event(client, owner_conn):
    user = await make_user(client)
    old = user["refresh_token"]
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": old})).status_code == 200
    # Presented again later than a client's own race (0052): a theft.
    await owner_conn.execute(
        "UPDATE focushub_auth.refresh_tokens SET spent_at = spent_at - interval '11 seconds'"
        " WHERE user_id = $1::uuid AND spent_at IS NOT NULL", user["user"]["id"])
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": old})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_reused"
    admin = await admin_of(client, owner_conn)
    r = await client.get("/api/v1/admin/audit-log", params={"action": "security."},
                         headers=admin["headers"])
    (entry,) = r.json()["items"]
    assert entry["action"] == "security.refresh_token_reused"
    assert entry["target_id"] == user["user"]["id"]


async def test_a_reported_chat_message_reaches_the_admin_but_not_the_room(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    admin = await admin_of(client, owner_conn)
    r = await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                          json={"type": "direct", "user_id": bob["user"]["id"]})
    room = r.json()["id"]
    r = await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=alice["headers"],
                          json={"content": "send me your password"})
    message = r.json()["id"]
    await client.post(f"/api/v1/chat/rooms/{room}/messages", headers=alice["headers"],
                      json={"content": "hello"})
    r = await report(client, admin, "chat_message", message)
    assert r.status_code == 404  # the admin is not in the room
    assert (await report(client, bob, "chat_message", message, reason="harassment")).status_code == 201
    r = await client.get("/api/v1/admin/reports", headers=admin["headers"])
    (item,) = r.json()["items"]
    assert item["snapshot"]["content"] == "send me your password"
    assert item["state"] == "visible"  # chat messages wait for an admin, whatever the count
    r = await client.post(f"/api/v1/admin/reports/chat_message/{message}",
                          headers=admin["headers"], json={"action": "delete", "reason": "Phishing"})
    assert r.status_code == 200 and r.json()["state"] == "deleted"
    r = await client.get(f"/api/v1/chat/rooms/{room}/messages", headers=bob["headers"])
    contents = sorted(m["content"] for m in r.json()["items"] if m["message_type"] == "text")
    assert contents == ["", "hello"]
    # Nothing in the room's event log still carries the text.
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM chat_room_events WHERE payload::text LIKE '%password%'") == 0


async def test_a_moderated_chat_message_takes_its_attachment_with_it(env, owner_conn):
    from tests.api.files_support import pdf_with_text
    from tests.api.test_chat import ROOMS, group, send

    alice, bob = await make_user(env.client), await make_user(env.client)
    admin = await admin_of(env.client, owner_conn)
    rid = (await group(env.client, alice, bob))["id"]
    sent = {}
    for action in ("delete", "hide"):
        r = await env.client.post(f"{ROOMS}/{rid}/attachments", headers=alice["headers"],
                                  files={"file": (f"{action}.pdf", pdf_with_text("Spam"),
                                                  "application/octet-stream")})
        assert r.status_code == 201, r.text
        r = await send(env.client, alice, rid, "buy now", message_type="file",
                       file_id=r.json()["id"])
        assert r.status_code == 201, r.text
        sent[action] = r.json()
        assert (await env.client.get(sent[action]["file_url"],
                                     headers=bob["headers"])).status_code == 200
    assert len(await env.objects()) == 2
    for action, message in sent.items():
        assert (await report(env.client, bob, "chat_message", message["id"])).status_code == 201
        r = await env.client.post(f"/api/v1/admin/reports/chat_message/{message['id']}",
                                  headers=admin["headers"],
                                  json={"action": action, "reason": "Spam"})
        assert r.status_code == 200 and r.json()["state"] == "deleted", r.text
        # As when its sender deletes it: the file is gone for the room at once.
        r = await env.client.get(message["file_url"], headers=bob["headers"])
        assert r.status_code == 404
    r = await env.client.get(f"{ROOMS}/{rid}/messages", headers=bob["headers"])
    assert all(m["file_url"] is None for m in r.json()["items"])
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 0
    # And its bytes with the files.purge job.
    await env.work()
    assert await env.objects() == []
