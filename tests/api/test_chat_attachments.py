"""Files in chat: uploaded to a room, sent in a message, readable by participants only."""

from __future__ import annotations

import io

from PIL import Image

from tests.api.conftest import make_user
from tests.api.files_support import jpeg_with_gps, pdf_with_text
from tests.api.test_chat import ROOMS, group, send


async def attach(env, user, room_id, name, data, expect=201):
    r = await env.client.post(f"{ROOMS}/{room_id}/attachments", headers=user["headers"],
                              files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == expect, r.text
    return r.json()


async def test_an_attachment_travels_in_one_message_to_participants_only(env, owner_conn):
    alice, bob, eve = [await make_user(env.client) for _ in range(3)]
    rid = (await group(env.client, alice, bob))["id"]
    photo = await attach(env, alice, rid, "beach.jpg", jpeg_with_gps())
    assert photo["content_type"] == "image/jpeg" and photo["room_id"] == rid
    await attach(env, eve, rid, "x.txt", b"let me in", expect=404)

    r = await env.client.get(photo["url"], headers=bob["headers"])
    assert r.status_code == 200
    assert not Image.open(io.BytesIO(r.content)).getexif()  # the location is gone
    for headers in (eve["headers"], {}):
        assert (await env.client.get(photo["url"], headers=headers)).status_code in (401, 404)

    sent = await send(env.client, alice, rid, "look", message_type="image", file_id=photo["id"])
    assert sent.status_code == 201, sent.text
    assert sent.json()["file_url"] == photo["url"]
    # Bob cannot send Alice's file, and a file is sent once.
    assert (await send(env.client, bob, rid, "mine", message_type="image",
                       file_id=photo["id"])).status_code == 404
    again = await send(env.client, alice, rid, "again", message_type="image", file_id=photo["id"])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "attachment_already_sent"
    notes = await attach(env, alice, rid, "notes.pdf", pdf_with_text("Lecture 4"))
    assert (await send(env.client, alice, rid, "pdf as image", message_type="image",
                       file_id=notes["id"])).status_code == 422
    assert (await send(env.client, alice, rid, "notes", message_type="file",
                       file_id=notes["id"])).status_code == 201
    export = await env.client.get(f"{ROOMS}/{rid}/export", headers=bob["headers"])
    assert f"{alice['user']['username']}: [file: {notes['url']}] notes" in export.text

    # Deleting the message deletes its file.
    before = await env.objects()
    assert len(before) == 2
    r = await env.client.delete(f"{ROOMS}/{rid}/messages/{sent.json()['id']}",
                                headers=alice["headers"])
    assert r.status_code == 200 and r.json()["file_url"] is None
    assert (await env.client.get(photo["url"], headers=bob["headers"])).status_code == 404
    await env.work()
    after = await env.objects()
    assert len(after) == 1 and after[0] in before
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 1
