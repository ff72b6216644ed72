"""Files in chat: uploaded to a room, sent in a message, readable by participants only."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from focushub.files import service as files
from tests.api.conftest import make_user
from tests.api.files_support import jpeg_with_gps, pdf_with_text, photo_with_metadata, png
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


async def test_a_gif_sent_in_chat_keeps_its_frames_but_not_where_it_was_made(env):
    """A GIF is not re-encoded (its frames would be lost), but its comments and XMP, which
    may name a place, go as a resource's do."""
    alice, bob = await make_user(env.client), await make_user(env.client)
    rid = (await group(env.client, alice, bob))["id"]
    original = photo_with_metadata("GIF")
    sent = await attach(env, alice, rid, "wave.gif", original)
    r = await env.client.get(sent["url"], headers=bob["headers"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    for told in (b"48.8581", b"GPSLatitude", b"12 Rue Example"):
        assert told in original and told not in r.content, told
    before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(r.content))
    assert after.tobytes() == before.tobytes() and sent["size"] == len(r.content)


async def test_an_archived_room_is_read_only_but_words_can_be_taken_back(env, owner_conn):
    admin, member = await make_user(env.client), await make_user(env.client)
    room = await group(env.client, admin, member)
    r = await send(env.client, member, room["id"], "my answer: 42")
    message = r.json()
    r = await env.client.patch(f"{ROOMS}/{room['id']}", json={"is_active": False},
                               headers=admin["headers"])
    assert r.status_code == 200
    # No new file for it (it could never be sent), no edit...
    r = await env.client.post(f"{ROOMS}/{room['id']}/attachments", headers=member["headers"],
                              files={"file": ("notes.pdf", pdf_with_text("Notes"), "application/pdf")})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict", r.text
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files WHERE room_id = $1::uuid",
                                     room["id"]) == 0
    r = await env.client.patch(f"{ROOMS}/{room['id']}/messages/{message['id']}",
                               json={"content": "my answer: 43"}, headers=member["headers"])
    assert r.status_code == 409, r.text
    # ...but one's own words can still be taken back.
    r = await env.client.delete(f"{ROOMS}/{room['id']}/messages/{message['id']}",
                                headers=member["headers"])
    assert r.status_code == 200 and r.json()["deleted_at"] is not None


async def test_a_burst_of_avatars_and_chat_photos_decodes_two_images_at_a_time(env):
    """Decoding an image may hold 256 MB (64 megapixels of RGBA): a process decodes at
    most ``files.IMAGE_DECODES`` at once, the rest of a burst waits for a slot. With the
    slots held, every upload of a burst comes to wait for one (none decodes beside them),
    and once they are free, all finish."""
    slots = files.decode_slots()
    assert slots.total_tokens == files.IMAGE_DECODES == 2
    alice, bob, carol = [await make_user(env.client) for _ in range(3)]
    rid = (await group(env.client, alice, bob))["id"]
    uploads = [
        *(env.client.put("/api/v1/users/me/avatar", headers=user["headers"],
                         files={"file": ("me.png", png((300, 200)), "image/png")})
          for user in (alice, bob, carol)),
        *(env.client.post(f"{ROOMS}/{rid}/attachments", headers=alice["headers"],
                          files={"file": (f"board{i}.png", png((300, 200)), "image/png")})
          for i in range(3))]
    holders = [object() for _ in range(files.IMAGE_DECODES)]
    for holder in holders:
        await slots.acquire_on_behalf_of(holder)
    running = [asyncio.ensure_future(upload) for upload in uploads]
    try:
        # Until each upload waits for a slot or has ended (an upload that does not wait
        # ends: none may then be left waiting for the slots this test holds).
        while slots.statistics().tasks_waiting + sum(t.done() for t in running) < len(running):
            await asyncio.sleep(0.01)
        waiting = slots.statistics().tasks_waiting
        assert slots.statistics().borrowed_tokens == len(holders)  # the test's only
    finally:
        for holder in holders:
            slots.release_on_behalf_of(holder)
        results = await asyncio.gather(*running)
    assert waiting == len(uploads)
    assert [r.status_code for r in results] == [200] * 3 + [201] * 3, [r.text for r in results]
    assert slots.statistics().borrowed_tokens == 0
