"""Resources through HTTP with several users, on local disk and on a real S3 server."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import io
import os
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageOps

from focushub.app import create_app
from focushub.core.settings import Settings
from focushub.files import metadata, sniff
from focushub.integrations.storage import S3Config, S3Store
from tests.api.conftest import JWT_SECRET, make_user
from tests.api.files_support import (
    LIMIT,
    Env,
    _env,
    bomb_zip,
    odf_with_unreadable_mimetype,
    pdf_with_text,
    photo_with_metadata,
    plain_zip,
    png,
    png_claiming,
)
from tests.conftest import run_task
from tests.realtime.conftest import free_port

R = "/api/v1/resources"


async def upload(env: Env, user: dict[str, Any], name: str, data: bytes, *, expect: int = 201,
                 **fields: Any) -> dict[str, Any]:
    form = {"title": fields.pop("title", f"About {name}"), **fields}
    r = await env.client.post(R, headers=user["headers"], data=form,
                              files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == expect, r.text
    return r.json()


# --- upload, download, preview, search ---------------------------------------------------------


async def test_upload_download_ranges_and_validators(env, owner_conn):
    alice = await make_user(env.client)
    data = pdf_with_text("Photosynthesis turns light into chlorophyll energy")
    body = await upload(env, alice, "biology notes.pdf", data, description="Week 3",
                        tags="Biology, plants", category="science")
    assert body["file"]["content_type"] == "application/pdf"
    assert body["file"]["kind"] == "pdf"
    assert body["file"]["size"] == len(data)
    assert body["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["file"]["url"] == f"{R}/{body['id']}/file"
    assert body["tags"] == ["biology", "plants"]
    assert body["file"]["preview"]["status"] == "pending"
    # file_url holds the stable API path, never a filesystem path or an expiring URL.
    row = await owner_conn.fetchrow("SELECT file_url, file_type FROM resources WHERE id = $1::uuid",
                                    body["id"])
    assert (row["file_url"], row["file_type"]) == (body["file"]["url"], "pdf")
    [key] = await env.objects()
    assert key.startswith("resource/") and "biology" not in key

    r = await env.client.get(body["file"]["url"])
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["etag"] == f'"{body["file"]["sha256"]}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["content-disposition"].startswith("inline;")
    assert "last-modified" in r.headers

    r = await env.client.get(body["file"]["url"], headers={"If-None-Match": r.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    r = await env.client.get(body["file"]["url"], headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == data[:10]
    assert r.headers["content-range"] == f"bytes 0-9/{len(data)}"
    r = await env.client.get(body["file"]["url"], headers={"Range": "bytes=-7"})
    assert r.status_code == 206 and r.content == data[-7:]
    r = await env.client.get(body["file"]["url"], headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.json()["error"]["code"] == "range_not_satisfiable"
    assert r.headers["content-range"] == f"bytes */{len(data)}"

    await env.work()  # preview and text
    r = await env.client.get(f"{R}/{body['id']}")
    preview = r.json()["file"]["preview"]
    assert preview["status"] == "ready" and preview["image_url"] == f"{R}/{body['id']}/preview"
    r = await env.client.get(preview["image_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:3] == b"\xff\xd8\xff"
    # Words inside the PDF are found by search, with a snippet from the file's text.
    r = await env.client.get("/api/v1/search", params={"q": "chlorophyll", "type": "resource"})
    hits = r.json()["items"]
    assert [h["id"] for h in hits] == [body["id"]]
    assert "«chlorophyll»" in hits[0]["snippet"]


async def test_ranges_with_long_numbers_or_backwards_are_answered_not_500(env):
    """Positions of any length: beyond the file is 416 (however many digits), a suffix
    longer than the file is all of it, and a range whose end is before its start is not
    a valid range at all, so it is ignored (RFC 9110, 14.1.1 and 14.2)."""
    alice = await make_user(env.client)
    data = b"0123456789" * 10
    url = (await upload(env, alice, "digits.txt", data))["file"]["url"]
    huge = "9" * 5000
    r = await env.client.get(url, headers={"Range": f"bytes={huge}-"})
    assert r.status_code == 416 and r.json()["error"]["code"] == "range_not_satisfiable"
    r = await env.client.get(url, headers={"Range": f"bytes=-{huge}"})
    assert r.status_code == 206 and r.content == data
    r = await env.client.get(url, headers={"Range": f"bytes=10-{huge}"})
    assert r.status_code == 206 and r.content == data[10:]
    assert r.headers["content-range"] == f"bytes 10-99/{len(data)}"
    r = await env.client.get(url, headers={"Range": "bytes=20-10"})
    assert r.status_code == 200 and r.content == data


async def test_text_files_are_text_plain_with_their_first_lines_as_preview(env):
    alice = await make_user(env.client)
    text = "".join(f"line {i}: gradient descent\n" for i in range(100)).encode()
    body = await upload(env, alice, "ml.md", text)
    assert body["file"]["content_type"] == "text/plain" and body["file"]["kind"] == "text"
    r = await env.client.get(body["file"]["url"])
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    await env.work()
    preview = (await env.client.get(f"{R}/{body['id']}")).json()["file"]["preview"]
    assert preview["status"] == "ready" and preview["image_url"] is None
    assert preview["text"].splitlines()[0] == "line 0: gradient descent"
    assert len(preview["text"].splitlines()) == 40


async def test_a_file_missing_from_the_store_ends_its_preview_as_failed(env):
    """Its preview is never made: ``failed``, not ``pending`` for good (a page would wait)."""
    alice = await make_user(env.client)
    body = await upload(env, alice, "lost.txt", b"notes that went missing\n")
    [key] = await env.objects()
    await env.rt.storage.delete(key)
    await env.work()
    preview = (await env.client.get(f"{R}/{body['id']}")).json()["file"]["preview"]
    assert preview["status"] == "failed" and preview["text"] is None
    r = await env.client.get(body["file"]["url"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "file_missing"


async def test_other_types_are_attachments(env):
    alice = await make_user(env.client)
    body = await upload(env, alice, "notes.zip", plain_zip())
    assert body["file"]["kind"] == "archive"
    r = await env.client.get(body["file"]["url"])
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "notes.zip" in r.headers["content-disposition"]


# --- what is refused, and that nothing is left behind ---------------------------------------------


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("photo.pdf", png(), 415, "type_mismatch"),
    ("page.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 415, "unsupported_type"),
    ("bomb.zip", None, 422, "archive_bomb"),
    ("empty.txt", b"", 422, "empty_file"),
    ("big.txt", b"a" * (LIMIT + 1), 413, "file_too_large"),
    ("../../etc/passwd.txt", b"root", 422, "invalid_file_name"),
    ("bell\x07.txt", b"ding", 422, "invalid_file_name"),
    ("next\u0085line.txt", b"c1", 422, "invalid_file_name"),
    ("invoice\u202efdp.txt", b"turned", 422, "invalid_file_name"),
    ("program.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(100), 415, "unsupported_type"),
    ("wide.png", png_claiming(9_000, 9_000), 422, "image_too_large"),  # 81 megapixels
    ("bomb.png", png_claiming(12_000, 12_000), 422, "image_too_large"),  # 144
    # A JPEG whose first segment claims more bytes than the file has: not stored as it is
    # (its metadata could not be told apart from its image).
    ("cut.jpg", b"\xff\xd8\xff\xe1\xff\xf0Exif\x00\x00MM\x00*", 422, "corrupt_image"),
    ("essay.odt", odf_with_unreadable_mimetype("crc"), 422, "corrupt_archive"),
    ("essay.odt", odf_with_unreadable_mimetype("encrypted"), 422, "corrupt_archive"),
])
async def test_refused_uploads_leave_no_row_and_no_object(env, owner_conn, name, data, status, code):
    alice = await make_user(env.client)
    payload = bomb_zip() if data is None else data
    # Written by hand: httpx would percent-encode a control character in the name.
    boundary = "----focushub"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nx\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\""
            "\r\nContent-Type: text/plain\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    r = await env.client.post(R, content=body, headers={
        **alice["headers"], "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert await owner_conn.fetchval("SELECT count(*) FROM resources") == 0
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 0
    assert await env.objects() == []


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP", "GIF"])
async def test_an_image_resource_loses_who_took_it_and_where_but_not_a_pixel(env, format):
    """A phone's photo of one's notes, shared: the file anyone downloads has no location,
    camera serial or owner's name (EXIF, XMP, comments, a trailer after the image), and
    shows the same pixels the same way up (its EXIF orientation is kept)."""
    alice = await make_user(env.client)
    original = photo_with_metadata(format)
    name = f"notes.{format.lower()}"
    body = await upload(env, alice, name, original)
    r = await env.client.get(body["file"]["url"])
    assert r.status_code == 200
    stored = r.content
    told = [b"48,51", b"48.8581", b"GPSLatitude"]  # XMP's location, the trailer's
    if format != "GIF":  # which has no EXIF
        told += [b"SN-0042", b"Alice Example", b"PhoneMaker"]
    if format != "WEBP":  # which has no comments
        told += [b"12 Rue Example"]
    for what in told:
        assert what in original and what not in stored, what
    assert body["file"]["size"] == len(stored) < len(original)
    assert body["file"]["sha256"] == hashlib.sha256(stored).hexdigest()
    r = await env.client.get("/api/v1/users/me/storage", headers=alice["headers"])
    assert r.json()["used_bytes"] == len(stored)  # the quota counts what is stored

    before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(stored))
    assert "xmp" not in after.info and 0x8825 not in after.getexif()
    assert dict(after.getexif()) == ({} if format == "GIF" else {0x0112: 6})
    assert (after.format, after.mode, after.size) == (before.format, before.mode, before.size)
    assert after.tobytes() == before.tobytes()  # decoded, not one pixel differs
    assert ImageOps.exif_transpose(after).tobytes() == ImageOps.exif_transpose(before).tobytes()


def _frames(path: Path) -> list[tuple[bytes, Any, Any]]:
    with Image.open(path) as image:
        found = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            found.append((image.convert("RGBA").tobytes(), image.info.get("duration"),
                          image.info.get("loop")))
        return found


@pytest.mark.parametrize("format", ["GIF", "WEBP", "PNG"])
def test_an_animation_keeps_every_frame_its_timing_and_its_loop(tmp_path, format):
    frames = [Image.effect_mandelbrot((60, 40), (-2.0 + i / 4, -1.2, 1.0, 1.2), 40).convert("RGB")
              for i in range(3)]
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}
    source, target = tmp_path / "in", tmp_path / "out"
    frames[0].save(source, format, save_all=True, append_images=frames[1:],
                   duration=[100, 200, 300], loop=0,
                   **({"comment": "at home"} if format == "GIF" else {"exif": exif}))
    metadata.strip(source, target, Image.MIME[format])
    assert len(_frames(target)) == 3 and _frames(target) == _frames(source)
    with Image.open(target) as image:
        assert not image.getexif() and "comment" not in image.info


def test_a_jpeg_keeps_its_colour_profile_and_progressive_scans(tmp_path):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    image = Image.effect_mandelbrot((200, 120), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    source, target = tmp_path / "in.jpg", tmp_path / "out.jpg"
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}
    image.save(source, "JPEG", progressive=True, icc_profile=profile, restart_marker_rows=1,
               exif=exif)
    metadata.strip(source, target, "image/jpeg")
    before, after = Image.open(source), Image.open(target)
    assert after.info["icc_profile"] == profile and after.info.get("progressive")
    assert after.tobytes() == before.tobytes() and not after.getexif()


def test_a_jpeg_s_thumbnail_extension_goes_with_the_exif_it_may_carry(tmp_path):
    """JFXX (APP0) holds a thumbnail that is itself a JPEG, EXIF included."""
    from tests.api.files_support import jpeg_with_gps

    thumbnail = jpeg_with_gps()
    segment = b"JFXX\0\x10" + thumbnail
    photo = png((80, 60))
    source, target = tmp_path / "in.jpg", tmp_path / "out.jpg"
    out = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(out, "JPEG")
    data = out.getvalue()
    source.write_bytes(data[:2] + b"\xff\xe0" + struct.pack(">H", len(segment) + 2) + segment
                       + data[2:])
    metadata.strip(source, target, "image/jpeg")
    assert b"PhoneMaker" in source.read_bytes() and b"PhoneMaker" not in target.read_bytes()
    assert target.read_bytes() == data
    assert Image.open(target).tobytes() == Image.open(source).tobytes()


def test_a_jpeg_of_endless_empty_segments_is_refused_not_walked(tmp_path):
    """Millions of four-byte segments took seconds of a thread: a JPEG has tens."""
    source = tmp_path / "in.jpg"
    source.write_bytes(b"\xff\xd8" + b"\xff\xe3\x00\x02" * 1_000_000 + b"\xff\xd9")
    with pytest.raises(metadata.Unreadable):
        metadata.strip(source, tmp_path / "out.jpg", "image/jpeg")


_SNIFF_PEAK = """
import resource, sys
from pathlib import Path
from focushub.files import metadata, sniff
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(sniff.sniff(Path(sys.argv[1]), "notes.zip").mime)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_zip_s_mimetype_member_is_read_no_further_than_a_type_name(tmp_path):
    """Which OpenDocument a zip is comes from its ``mimetype`` member, a few dozen bytes.
    Here it unpacks to 200 MB (compressed 157:1, under the bomb ratio; the archive may
    unpack to 1 GiB in all): reading it whole took that much memory in the request for a
    1.3 MB upload. Only the start that can name a type is read."""
    import random
    import subprocess
    import sys
    import zipfile

    path = tmp_path / "notes.zip"
    block = random.Random(1).randbytes(4096)  # repeats compress about 157:1
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("mimetype", "w", force_zip64=True) as member:
            for _ in range(200 * 256):
                member.write(block)
    assert path.stat().st_size < 2_000_000
    done = subprocess.run([sys.executable, "-c", _SNIFF_PEAK, str(path)], capture_output=True,
                          text=True, check=True, timeout=120)
    kind, grown_kib = done.stdout.split()
    assert kind == "application/zip"
    assert int(grown_kib) < 64 * 1024, f"{int(grown_kib) // 1024} MiB more at the peak"
    # A real one still names its type.
    odt = tmp_path / "essay.odt"
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    assert sniff.sniff(odt, "essay.odt") is sniff.ODT


async def test_a_file_at_the_limit_is_accepted(env):
    alice = await make_user(env.client)
    body = await upload(env, alice, "max.txt", b"b" * LIMIT)
    assert body["file"]["size"] == LIMIT


async def test_bad_fields_and_anonymous_uploads_are_refused(env, owner_conn):
    alice = await make_user(env.client)
    r = await env.client.post(R, headers=alice["headers"], data={"title": "  "},
                              files={"file": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 422
    r = await env.client.post(R, data={"title": "t"}, files={"file": ("a.txt", b"hi", "text/plain")})
    assert r.status_code == 401
    r = await env.client.post(R, headers=alice["headers"], json={"title": "no file"})
    assert r.status_code == 422
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 0
    assert await env.objects() == []


# --- who may see what --------------------------------------------------------------------------


async def test_private_resources_are_the_author_s_alone(env):
    alice, bob = await make_user(env.client), await make_user(env.client)
    private = await upload(env, alice, "secret.txt", b"my diary", is_public="false")
    public = await upload(env, alice, "shared.txt", b"for everyone")
    await env.work()
    for path in (f"{R}/{private['id']}", private["file"]["url"], f"{R}/{private['id']}/preview"):
        for headers in (bob["headers"], {}):
            r = await env.client.get(path, headers=headers)
            assert r.status_code == 404, path
    r = await env.client.get(private["file"]["url"], headers=alice["headers"])
    assert r.status_code == 200 and r.content == b"my diary"
    listed = (await env.client.get(R, headers=bob["headers"])).json()["items"]
    assert [i["id"] for i in listed] == [public["id"]]
    mine = (await env.client.get(R, params={"mine": "true"}, headers=alice["headers"])).json()
    assert {i["id"] for i in mine["items"]} == {private["id"], public["id"]}
    r = await env.client.get(f"{R}/{uuid.uuid4()}/file")
    assert r.status_code == 404


async def test_only_the_author_changes_or_deletes_and_deleting_removes_the_objects(env, owner_conn):
    alice, bob = await make_user(env.client), await make_user(env.client)
    body = await upload(env, alice, "slides.pdf", pdf_with_text("Thermodynamics"))
    await env.work()
    assert len(await env.objects()) == 2  # the file and its preview

    r = await env.client.patch(f"{R}/{body['id']}", headers=bob["headers"], json={"title": "mine"})
    assert r.status_code == 403
    r = await env.client.patch(f"{R}/{body['id']}", headers=alice["headers"],
                               json={"title": "Thermo slides", "is_public": False, "tags": None})
    assert r.status_code == 200
    assert (r.json()["title"], r.json()["is_public"], r.json()["tags"]) == ("Thermo slides", False, [])
    r = await env.client.patch(f"{R}/{body['id']}", headers=bob["headers"], json={"title": "x"})
    assert r.status_code == 404  # private now
    r = await env.client.delete(f"{R}/{body['id']}", headers=bob["headers"])
    assert r.status_code == 404
    r = await env.client.delete(f"{R}/{body['id']}", headers=alice["headers"])
    assert r.status_code == 204
    assert await owner_conn.fetchval("SELECT count(*) FROM stored_files") == 0
    await env.work()  # files.purge
    assert await env.objects() == []
    assert await owner_conn.fetchval("SELECT count(*) FROM storage_deletions") == 0


async def test_deleting_an_account_removes_its_files(env, owner_conn):
    alice = await make_user(env.client)
    await upload(env, alice, "a.txt", b"one")
    await upload(env, alice, "b.txt", b"two")
    await owner_conn.execute("DELETE FROM users WHERE id = $1::uuid", alice["user"]["id"])
    await env.work()
    assert await env.objects() == []


class FolderOpens:
    """Counts the openings of a folder (listing it opens it) through Linux's inotify: what
    the file system saw, not what our code says it did."""

    IN_OPEN, IN_ISDIR = 0x20, 0x40000000
    EVENT = struct.Struct("iIII")

    def __init__(self, folder: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, bytes(folder), self.IN_OPEN) < 0:
            pytest.skip(f"inotify is not available: errno {ctypes.get_errno()}")

    def count(self) -> int:
        """Openings of the folder itself (not of the files in it) since the last count."""
        opened = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return opened
            at = 0
            while at < len(data):
                _, mask, _, length = self.EVENT.unpack_from(data, at)
                if mask & self.IN_ISDIR and length == 0:
                    opened += 1
                at += self.EVENT.size + length

    def close(self) -> None:
        os.close(self.fd)


async def test_the_purge_deletes_derived_objects_by_name_without_listing_the_folder(
        request, test_db, engine, tmp_path, owner_conn):
    """An object's preview or sizes are found by their names: listing "<key>." read the whole
    folder for every deleted key, so a purge cost as much as all files stored."""
    async for env in _env(request, test_db, engine, tmp_path):
        alice = await make_user(env.client)
        kept = await upload(env, alice, "kept.pdf", pdf_with_text("Kept"))
        gone = await upload(env, alice, "gone.pdf", pdf_with_text("Gone"))
        await env.work()
        objects = await env.objects()
        assert len(objects) == 4  # two files and their previews
        opens = FolderOpens(tmp_path / "files" / "resource")
        try:
            r = await env.client.delete(f"{R}/{gone['id']}", headers=alice["headers"])
            assert r.status_code == 204
            opens.count()
            await run_task(test_db, "files.purge", settings=env.rt.settings)
            assert opens.count() == 0
        finally:
            opens.close()
        left = await env.objects()
        assert len(left) == 2 and set(left) < set(objects)
        r = await env.client.get(f"{R}/{kept['id']}/file", headers=alice["headers"])
        assert r.status_code == 200


# --- counting, listing, quota ----------------------------------------------------------------


async def test_downloads_count_once_per_user_per_day_under_concurrency(env):
    alice = await make_user(env.client)
    readers = [await make_user(env.client) for _ in range(3)]
    body = await upload(env, alice, "popular.txt", b"everyone wants this")
    url = body["file"]["url"]
    requests = [env.client.get(url, headers=u["headers"]) for u in readers for _ in range(5)]
    requests += [env.client.get(url) for _ in range(5)]  # one anonymous address
    results = await asyncio.gather(*requests)
    assert {r.status_code for r in results} == {200}
    await env.client.get(url, headers={"If-None-Match": results[0].headers["etag"]})
    r = await env.client.get(f"{R}/{body['id']}")
    assert r.json()["downloads_count"] == 4


async def test_list_filters_and_download_order(env):
    alice, bob = await make_user(env.client), await make_user(env.client)
    pdf = await upload(env, alice, "a.pdf", pdf_with_text("Algebra"), category="math", tags="algebra")
    txt = await upload(env, bob, "b.txt", b"History notes", category="history")
    image = await upload(env, bob, "c.png", png())
    await env.client.get(image["file"]["url"], headers=alice["headers"])
    await env.client.get(image["file"]["url"], headers=bob["headers"])
    await env.client.get(txt["file"]["url"], headers=alice["headers"])

    async def ids(**params: Any) -> list[str]:
        r = await env.client.get(R, params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids() == [image["id"], txt["id"], pdf["id"]]
    assert await ids(type="pdf") == [pdf["id"]]
    assert await ids(type="image") == [image["id"]]
    assert await ids(category="history") == [txt["id"]]
    assert await ids(tag="Algebra") == [pdf["id"]]
    assert await ids(author=bob["user"]["username"]) == [image["id"], txt["id"]]
    assert await ids(sort="downloads") == [image["id"], txt["id"], pdf["id"]]
    page = (await env.client.get(R, params={"limit": 2})).json()
    rest = (await env.client.get(R, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [image["id"], txt["id"], pdf["id"]]


async def test_by_name_and_by_size_page_through_every_resource_once_in_order(env):
    """``sort=name`` is A to Z by title with letter case ignored (ties by id), ``sort=size``
    the largest file first; a page's cursor leads on in the same order, each resource once."""
    alice = await make_user(env.client)
    made = []
    for title, size in (("banana", 300), ("Apple", 100), ("cherry", 500), ("apple", 200),
                        ("Éclair", 50), ("date", 400)):
        body = await upload(env, alice, f"{title}.txt", b"x" * size, title=title)
        made.append((title, size, body["id"]))

    async def walk(sort: str) -> list[str]:
        seen, cursor = [], None
        while True:
            params = {"sort": sort, "limit": 2, "author": alice["user"]["username"]}
            if cursor:
                params["cursor"] = cursor
            r = await env.client.get(R, params=params)
            assert r.status_code == 200, r.text
            seen += [i["id"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return seen

    by_size = [i for _, _, i in sorted(made, key=lambda m: -m[1])]
    assert await walk("size") == by_size
    by_name = await walk("name")
    titles = {i: t for t, _, i in made}
    assert [titles[i].lower() for i in by_name][:5] == ["apple", "apple", "banana", "cherry", "date"]
    assert sorted(by_name) == sorted(i for _, _, i in made) and len(set(by_name)) == 6
    # The two "apple"s, equal without case, come in the order of their ids.
    apples = [i for i in by_name if titles[i].lower() == "apple"]
    assert apples == sorted(apples)
    # A cursor of one order is refused by another whose key is of another type.
    first = (await env.client.get(R, params={"sort": "name", "limit": 1})).json()
    r = await env.client.get(R, params={"sort": "size", "cursor": first["next_cursor"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_the_author_filter_finds_a_username_that_reads_as_an_id(env):
    """A username of 32 hex digits also reads as an id written without hyphens: ``author=``
    with it lists that person's files, and an id in its usual form still lists its owner's."""
    hexname = "fedcba9876543210fedcba9876543210"
    alice = await make_user(env.client, username=hexname)
    bob = await make_user(env.client, username=alice["user"]["id"].replace("-", ""))
    mine = await upload(env, alice, "a.txt", b"Alice's notes")
    theirs = await upload(env, bob, "b.txt", b"Bob's notes")
    for ref, item in ((hexname, mine), (alice["user"]["id"], mine),
                      (alice["user"]["id"].replace("-", ""), theirs), (bob["user"]["id"], theirs)):
        r = await env.client.get(R, params={"author": ref})
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == [item["id"]], ref


@pytest.fixture
async def small_quota(request, test_db, engine, tmp_path) -> AsyncIterator[Env]:
    async for e in _env(request, test_db, engine, tmp_path, storage_quota_bytes=100_000):
        yield e


async def test_the_quota_is_exact_under_concurrency_and_admins_have_none(small_quota, owner_conn):
    env = small_quota
    alice = await make_user(env.client)
    results = await asyncio.gather(*[
        env.client.post(R, headers=alice["headers"], data={"title": f"part {i}"},
                        files={"file": (f"p{i}.txt", bytes([97 + i]) * 30_000, "text/plain")})
        for i in range(5)])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 201, 201, 413, 413]
    refused = [r.json() for r in results if r.status_code == 413]
    assert {e["error"]["code"] for e in refused} == {"quota_exceeded"}
    assert await owner_conn.fetchval("SELECT sum(size) FROM stored_files") == 90_000
    assert len(await env.objects()) == 3  # the refused ones left nothing
    r = await env.client.get("/api/v1/users/me/storage", headers=alice["headers"])
    assert r.json() == {"used_bytes": 90_000, "quota_bytes": 100_000}

    admin = await make_user(env.client)
    await owner_conn.execute("UPDATE users SET role = 'admin' WHERE id = $1::uuid", admin["user"]["id"])
    for i in range(4):
        await upload(env, admin, f"big{i}.txt", b"z" * 40_000)


async def test_the_orphan_sweep_leaves_what_is_not_focus_hub_s_alone(env, test_db, tmp_path):
    """A bucket (or a prefix) may hold other things: the sweep deletes only under the
    folders Focus Hub names its objects in (resource/, avatar/, attachment/, export/)."""
    alice = await make_user(env.client)
    await upload(env, alice, "kept.txt", b"kept")
    source = tmp_path / "other"
    source.write_bytes(b"not ours")
    others = ["backups/2025-01-01.tar", "notes.txt", "resources/old-site/logo.png"]
    for key in others:
        await env.rt.storage.put_file(key, source, "application/octet-stream")
    await run_task(test_db, "files.sweep", settings=env.rt.settings, grace_seconds=0)
    objects = await env.objects()
    assert all(key in objects for key in others) and len(objects) == 4


async def test_the_orphan_sweep_removes_objects_no_row_names(env, test_db, tmp_path):
    alice = await make_user(env.client)
    await upload(env, alice, "kept.txt", b"kept")
    stray = "resource/" + "0" * 32  # put, then the process died before the row committed
    source = tmp_path / "stray"
    source.write_bytes(b"left by a crash")
    await env.rt.storage.put_file(stray, source, "text/plain")
    assert stray in await env.objects()
    await run_task(test_db, "files.sweep", settings=env.rt.settings, grace_seconds=0)
    objects = await env.objects()
    assert stray not in objects and len(objects) == 1



@pytest.fixture
async def local_env(request, test_db, engine, tmp_path) -> AsyncIterator[Env]:
    async for e in _env(request, test_db, engine, tmp_path):
        yield e


async def test_the_orphan_sweep_removes_what_a_cut_off_put_left_on_local_disk(
        local_env, test_db, tmp_path):
    """A put writes a partial file beside its object and renames it when done; a process
    that died (or a disk that filled) in between left the partial file, which nothing
    names. The sweep removes it once it is past the grace, as it removes an object."""
    env = local_env
    alice = await make_user(env.client)
    await upload(env, alice, "kept.txt", b"kept")
    partial = tmp_path / "files" / "resource" / f".{'0' * 32}.partial"
    partial.write_bytes(b"half of an upload")
    await run_task(test_db, "files.sweep", settings=env.rt.settings, grace_seconds=0)
    assert not partial.exists()
    assert len(await env.objects()) == 1


async def test_uploads_and_downloads_answer_503_while_the_storage_is_unreachable(
        request, test_db, engine, tmp_path):
    """The S3 endpoint refuses connections (nothing listens on its port): the one error
    shape, 503 ``storage_unavailable`` with Retry-After, as while the database is away."""
    bucket = f"fh-{uuid.uuid4().hex[:12]}"

    @contextlib.asynccontextmanager
    async def running(endpoint: str) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                            data_dir=tmp_path, storage_url=f"s3://{bucket}",
                            s3_endpoint_url=endpoint, s3_region="us-east-1",
                            s3_access_key_id="test", s3_secret_access_key="test")
        app = create_app(settings, engine=engine)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c
        finally:
            await app.state.runtime.stop()

    def unavailable(r: httpx.Response) -> None:
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        error = r.json()["error"]
        assert (error["code"], error["details"]) == (
            "storage_unavailable", {"retry_after_seconds": 5})

    async with running(request.getfixturevalue("s3_endpoint")) as up:
        await S3Store(S3Config(bucket=bucket, endpoint_url=request.getfixturevalue("s3_endpoint"),
                               region="us-east-1", access_key_id="test",
                               secret_access_key="test")).ensure_bucket()
        alice = await make_user(up)
        r = await up.post(R, headers=alice["headers"], data={"title": "Notes"},
                          files={"file": ("notes.txt", b"stored while it was up", "text/plain")})
        assert r.status_code == 201, r.text
        stored = r.json()
    async with running(f"http://127.0.0.1:{free_port()}") as down:
        r = await down.post(R, headers=alice["headers"], data={"title": "More"},
                            files={"file": ("more.txt", b"nowhere to go", "text/plain")})
        unavailable(r)
        unavailable(await down.get(f"{R}/{stored['id']}/file", headers=alice["headers"]))


async def test_a_preview_whose_every_attempt_found_the_store_away_ends_failed(
        request, test_db, engine, tmp_path, owner_conn):
    """The file was stored while the S3 endpoint was up; every attempt of its job finds
    it away. The preview ends ``failed`` (a page would otherwise wait for it for good),
    and the job stays failed for an operator to retry."""
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"fh-{uuid.uuid4().hex[:12]}"

    def app_on(url: str):  # noqa: ANN202
        return create_app(Settings(
            env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET, data_dir=tmp_path,
            storage_url=f"s3://{bucket}", s3_endpoint_url=url, s3_region="us-east-1",
            s3_access_key_id="test", s3_secret_access_key="test"), engine=engine)

    up = app_on(endpoint)
    try:
        await up.state.runtime.storage.ensure_bucket()
        transport = httpx.ASGITransport(app=up, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            alice = await make_user(c)
            r = await c.post(R, headers=alice["headers"], data={"title": "Notes"},
                             files={"file": ("notes.txt", b"stored while it was up", "text/plain")})
            assert r.status_code == 201, r.text
            resource_id = r.json()["id"]
    finally:
        await up.state.runtime.stop()
    down = app_on(f"http://127.0.0.1:{free_port()}").state.runtime
    try:
        for _ in range(5):  # the first run and three retries, each brought forward
            await asyncio.wait_for(down.jobs.run_worker(down, wait=False), 120)
            await owner_conn.execute(
                "UPDATE procrastinate.procrastinate_jobs SET scheduled_at = now()"
                " WHERE status = 'todo'")
    finally:
        await down.stop()
    assert await owner_conn.fetchval(
        "SELECT f.preview_status FROM stored_files f JOIN resources r ON r.file_id = f.id"
        " WHERE r.id = $1::uuid", resource_id) == "failed"
    assert await owner_conn.fetchval(
        "SELECT status FROM procrastinate.procrastinate_jobs"
        " WHERE task_name = 'resources.process'") == "failed"
