"""Avatars: stored without their metadata, in three sizes, the old one removed."""

from __future__ import annotations

import asyncio
import io
import random
import uuid

import asyncpg
import pytest
from PIL import Image

from tests.api.conftest import make_user
from tests.api.files_support import _env, jpeg_with_gps, pdf_with_text, png_claiming


async def test_an_avatar_loses_its_gps_and_comes_in_sizes(env, owner_conn):
    alice, bob = await make_user(env.client), await make_user(env.client)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825)  # the upload has a location
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.jpg", original, "image/jpeg")})
    assert r.status_code == 200, r.text
    url = r.json()["avatar_url"]
    assert url.startswith(f"/api/v1/users/{alice['user']['id']}/avatar?v=")

    for size in (512, 128, 48):
        r = await env.client.get(f"/api/v1/users/{alice['user']['id']}/avatar",
                                 params={"size": size}, headers=bob["headers"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(r.content))
        assert max(image.size) <= size
        assert not image.getexif()  # no EXIF at all, so no GPS
        assert original not in r.content
    r = await env.client.get(f"/api/v1/users/{alice['user']['id']}/avatar")  # anonymous
    assert r.status_code == 200
    etag = r.headers["etag"]
    r = await env.client.get(f"/api/v1/users/{alice['user']['id']}/avatar",
                             headers={"If-None-Match": etag})
    assert r.status_code == 304
    doc = (await env.client.get("/openapi.json")).json()  # and the document says it may be
    assert "304" in doc["paths"]["/api/v1/users/{user_id}/avatar"]["get"]["responses"]

    first_objects = await env.objects()
    assert len(first_objects) == 3
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("new.png", _png(), "image/png")})
    assert r.status_code == 200 and r.json()["avatar_url"] != url
    await env.work()  # the old avatar's objects are purged
    objects = await env.objects()
    assert len(objects) == 3 and not set(objects) & set(first_objects)
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM stored_files WHERE purpose = 'avatar'") == 1


async def test_a_picture_is_an_upload_never_an_outside_address(env, owner_conn):
    """Every reader's client fetches a profile picture: from an outside address it would
    tell whoever chose it who reads, and when (users_avatar_url_uploaded, 0048)."""
    alice = await make_user(env.client, username="alice")
    bob = await make_user(env.client, username="bob")
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.jpg", jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 200, r.text
    own = r.json()["avatar_url"]
    for url in ("https://img.example.org/p.png", "//img.example.org/p.png",
                own.replace(alice["user"]["id"], bob["user"]["id"]), own + "&x=1"):
        r = await env.client.patch("/api/v1/users/me", headers=alice["headers"],
                                   json={"avatar_url": url})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["details"] == {"field": "avatar_url"}
    # Sent back unchanged with the rest of a profile, it is accepted; null removes it.
    r = await env.client.patch("/api/v1/users/me", headers=alice["headers"],
                               json={"bio": "hi", "avatar_url": own})
    assert r.status_code == 200 and r.json()["avatar_url"] == own
    r = await env.client.patch("/api/v1/users/me", headers=alice["headers"],
                               json={"avatar_url": None})
    assert r.status_code == 200 and r.json()["avatar_url"] is None
    # In SQL too, as the account itself.
    with pytest.raises(asyncpg.CheckViolationError):
        await owner_conn.execute("UPDATE users SET avatar_url = 'https://img.example.org/p.png'"
                                 " WHERE id = $1", uuid.UUID(alice["user"]["id"]))


async def test_an_avatar_is_not_served_across_a_block_nor_for_a_deactivated_account(
        env, owner_conn):
    """As the profile (0025, 0051): the picture is not there across a block, nor for an
    account an administrator took off the platform, but for administrators (0053)."""
    from tests.api.conftest import admin_of

    alice, bob = await make_user(env.client), await make_user(env.client)
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.jpg", jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 200, r.text
    url = f"/api/v1/users/{alice['user']['id']}/avatar"
    r = await env.client.get(url, headers=bob["headers"])
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
    r = await env.client.put(f"/api/v1/users/{bob['user']['id']}/block",
                             headers=alice["headers"])
    assert r.status_code == 204, r.text
    r = await env.client.get(url, headers=bob["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "avatar_not_found"
    assert (await env.client.get(url)).status_code == 200  # anonymous: no block
    assert (await env.client.get(url, headers=alice["headers"])).status_code == 200  # her own
    await owner_conn.execute("UPDATE users SET is_active = false WHERE id = $1::uuid",
                             alice["user"]["id"])
    assert (await env.client.get(url)).status_code == 404
    admin = await admin_of(env.client, owner_conn)
    assert (await env.client.get(url, headers=admin["headers"])).status_code == 200


async def test_only_images_become_avatars(env):
    alice = await make_user(env.client)
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.pdf", pdf_with_text("x"), "application/pdf")})
    assert r.status_code == 415
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.png", png_claiming(9_000, 9_000), "image/png")})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "image_too_large")
    r = await env.client.get(f"/api/v1/users/{alice['user']['id']}/avatar")
    assert r.status_code == 404 and r.json()["error"]["code"] == "avatar_not_found"
    assert await env.objects() == []


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (600, 300), (10, 200, 30, 128)).save(out, "PNG")
    return out.getvalue()


async def test_avatars_uploaded_at_once_leave_one(env, owner_conn):
    alice = await make_user(env.client)

    async def upload(k: int):
        return await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                                    files={"file": (f"me{k}.png", _png(), "image/png")})

    responses = await asyncio.gather(*(upload(k) for k in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM stored_files WHERE owner_id = $1 AND purpose = 'avatar'",
        uuid.UUID(alice["user"]["id"])) == 1
    r = await env.client.get(f"/api/v1/users/{alice['user']['id']}/avatar")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


@pytest.fixture(params=["local", "s3"])
async def tiny_quota(request, test_db, engine, tmp_path):
    async for e in _env(request, test_db, engine, tmp_path, storage_quota_bytes=1024):
        yield e


async def test_an_avatar_refused_over_the_quota_leaves_none_of_its_sizes(tiny_quota, owner_conn):
    """The smaller sizes are put beside the avatar before its row is written: a refusal
    (here the quota) takes them away with it, not only the largest."""
    env = tiny_quota
    alice = await make_user(env.client)
    noise = io.BytesIO()
    Image.frombytes("RGB", (100, 100), random.Random(7).randbytes(30_000)).save(noise, "PNG")
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.png", noise.getvalue(), "image/png")})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "quota_exceeded"), r.text
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 0
    assert await env.objects() == []


async def test_a_transparent_picture_stored_as_jpeg_keeps_a_light_background(env):
    """JPEG has no transparency: a WebP (or GIF) with transparent parts is laid on white,
    as its preview is, not left to whatever colour its hidden pixels hold (black)."""
    alice = await make_user(env.client)
    picture = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    picture.paste((200, 30, 30, 255), (50, 50, 150, 150))
    data = io.BytesIO()
    picture.save(data, "WEBP", lossless=True)
    r = await env.client.put("/api/v1/users/me/avatar", headers=alice["headers"],
                             files={"file": ("me.webp", data.getvalue(), "image/webp")})
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/api/v1/users/{alice['user']['id']}/avatar")
    assert r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as stored:
        assert min(stored.convert("RGB").getpixel((5, 5))) > 240  # a transparent corner
        red, green, _ = stored.convert("RGB").getpixel((stored.width // 2, stored.height // 2))
        assert red > 150 and green < 80  # the opaque middle as it was
