"""Storage backends for the file tests: local disk, and a real S3 server (moto) on loopback."""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import subprocess
import sys
import time
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from focushub.app import create_app
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings
from focushub.integrations.storage import S3Store
from tests.api.conftest import JWT_SECRET

# The upload limit of these tests (small, so "one byte over" is cheap).
LIMIT = 256 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in its own process on loopback; skipped (with the reason) if it
    cannot start."""
    port = _free_port()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        pytest.skip(f"moto's S3 server could not start: {exc}")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-500:] if proc.stderr else ""
            pytest.skip(f"moto's S3 server exited: {err}")
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.skip("moto's S3 server did not answer within 30 s")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Env:
    client: httpx.AsyncClient
    rt: Runtime
    backend: str

    async def objects(self) -> list[str]:
        return sorted([o.key async for o in self.rt.storage.list()])

    async def work(self) -> None:
        """Run a worker until no job is due (previews, text, purges)."""
        await asyncio.wait_for(self.rt.jobs.run_worker(self.rt, wait=False), 60)


async def _env(request, test_db, engine, tmp_path, **overrides: Any) -> AsyncIterator[Env]:
    backend = request.param if hasattr(request, "param") else "local"
    options: dict[str, Any] = {"data_dir": tmp_path, "max_upload_bytes": LIMIT, **overrides}
    if backend == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        options.update(storage_url=f"s3://fh-{uuid.uuid4().hex[:12]}", s3_endpoint_url=endpoint,
                       s3_region="us-east-1", s3_access_key_id="test",
                       s3_secret_access_key="test")
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        **options)
    app = create_app(settings, engine=engine)
    rt: Runtime = app.state.runtime
    if isinstance(rt.storage, S3Store):
        await rt.storage.ensure_bucket()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        try:
            yield Env(client, rt, backend)
        finally:
            await rt.stop()


@pytest.fixture(params=["local", "s3"])
async def env(request, test_db, engine, tmp_path) -> AsyncIterator[Env]:
    async for e in _env(request, test_db, engine, tmp_path):
        yield e


# --- files ---------------------------------------------------------------------------------


def png(size: tuple[int, int] = (40, 30), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header says ``width`` × ``height`` (a decompression bomb's
    shape: nothing in it needs to be decoded to know it is too large)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF says where it was taken."""
    image = Image.new("RGB", (64, 48), "orange")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


# Where an XMP packet says a photo was taken (phones and editors write it beside EXIF).
XMP_WITH_GPS = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    ' xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.483N"'
    ' exif:GPSLongitude="2,17.667E"/></rdf:RDF></x:xmpmeta>')


def photo_with_metadata(format: str) -> bytes:
    """A 120 × 80 picture (``JPEG``, ``PNG``, ``WEBP`` or ``GIF``) that says who took it
    and where: EXIF with GPS, the camera's serial number and owner's name, turned by its
    EXIF orientation (6: shown turned a quarter clockwise); XMP with GPS, a comment (not
    WebP: it has none), and a phone's trailer after the image's end. GIF has no EXIF: a comment, an XMP
    application block and the trailer."""
    image = Image.effect_mandelbrot((120, 80), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation
    exif[0xA430] = "Alice Example"  # CameraOwnerName
    exif[0xA431] = "SN-0042-7731"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    out = io.BytesIO()
    trailer = b"SEFT trailer: 48.8581,2.2945"  # as a phone appends it, location included
    if format == "JPEG":
        image.save(out, "JPEG", quality=90, exif=exif, xmp=XMP_WITH_GPS.encode(),
                   comment="taken at 12 Rue Example")
    elif format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP_WITH_GPS)
        info.add_text("Comment", "taken at 12 Rue Example")
        image.save(out, "PNG", exif=exif, pnginfo=info)
    elif format == "WEBP":
        image.save(out, "WEBP", quality=80, exif=exif, xmp=XMP_WITH_GPS.encode())
    else:
        image.convert("P").save(out, "GIF", comment="taken at 12 Rue Example")
        data = out.getvalue()
        # XMP's application extension ("XMP DataXMP", the packet, a 258-byte "magic
        # trailer"), put before the GIF's last byte, its trailer.
        xmp = (b"\x21\xff\x0bXMP DataXMP" + XMP_WITH_GPS.encode() + b"\x01"
               + bytes(range(255, -1, -1)) + b"\x00")
        return data[:-1] + xmp + data[-1:] + trailer
    return out.getvalue() + trailer


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose page shows ``text`` in Helvetica (extractable)."""
    stream = f"BT /F1 18 Tf 40 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode())
    return bytes(out)


def bomb_zip() -> bytes:
    """A small zip whose one member unpacks to 200 MB of zeros (a zip bomb's shape)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            block = bytes(1024 * 1024)
            for _ in range(200):
                member.write(block)
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/week1.md", "# Week 1\n\nVectors and matrices.\n")
    return out.getvalue()


def odf_with_unreadable_mimetype(damage: str) -> bytes:
    """An OpenDocument-shaped zip whose ``mimetype`` member cannot be read: its bytes no
    longer match their CRC (``"crc"``), or it is marked encrypted (``"encrypted"``)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    data = bytearray(out.getvalue())
    if damage == "crc":
        data[data.index(b"application/vnd")] ^= 1
    else:  # bit 0 of the general purpose flags, in the local and the central header
        data[6] |= 1
        data[data.index(b"PK\x01\x02") + 8] |= 1
    return bytes(data)


def stored_objects(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
