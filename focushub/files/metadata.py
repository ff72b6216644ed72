"""Image metadata that may identify a person, removed without touching the pixels.

A photo taken by a phone carries where it was taken (EXIF GPS, often XMP too), the camera's
serial number and its owner's name; an uploaded resource is shared as it was stored, so
that has to go before it is stored. Decoding and encoding the image again (as avatars and
chat photos are) would drop it too, but a lossy JPEG would lose detail each time, and a
shared diagram or photo of notes should come back as it was uploaded.

So the file is rewritten piece by piece, by its container's structure, keeping only what
displays the image: the compressed image data, colour (ICC profiles, gamma, Adobe's
colour transform), transparency, animation, and the EXIF orientation (turned photos would
show on their side without it), written again as a new EXIF block that holds nothing else.
Everything else goes: EXIF and XMP blocks, comments, text chunks, vendor blocks, and
whatever follows the image's end (phones append a second picture or a motion photo's
video there, with metadata of their own). The pixels decode exactly as before.

Written here rather than taken from a library: none on PyPI does this for JPEG, PNG, WebP
and GIF losslessly while dropping what follows the image (piexif, unmaintained since 2019,
covers JPEG and WebP's EXIF only, not XMP; pyexiv2 binds a C++ library that would parse
hostile uploads inside the server process, and keeps trailers). The structure walked is
small: JPEG's marker segments, PNG's chunks, WebP's RIFF chunks, GIF's blocks. Pillow
reads only the orientation, from the EXIF block's bytes; nothing is decoded.

Files are read through ``mmap`` and written in pieces, so memory does not grow with their
size.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from PIL import Image

ORIENTATION = 0x0112
_COPY_CHUNK = 1024 * 1024


class Unreadable(Exception):
    """The file's structure is broken: it cannot be rewritten, so it is not stored."""


def strip(source: Path, target: Path, mime: str) -> None:
    """Write the image at ``source`` (of type ``mime``, sniffed) to ``target`` without its
    metadata (see the module's description); raises :class:`Unreadable`."""
    rewrite = _REWRITERS[mime]
    with source.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data, \
            target.open("wb") as out:
        try:
            rewrite(data, out)
        except (IndexError, struct.error) as exc:  # ran off the end of a truncated file
            raise Unreadable(str(exc)) from None


def _copy(data: mmap.mmap, out: BinaryIO, start: int, end: int) -> None:
    for at in range(start, end, _COPY_CHUNK):
        out.write(data[at:min(at + _COPY_CHUNK, end)])


def _orientation(exif: bytes) -> int | None:
    """The EXIF orientation (2-8) of an EXIF block, None for upright (1) or none at all."""
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        value = parsed.get(ORIENTATION)
    except Exception:  # an unreadable block says nothing to keep
        return None
    return value if isinstance(value, int) and 2 <= value <= 8 else None


def _exif_with(orientation: int) -> bytes:
    """A TIFF-structured EXIF block holding only ``orientation``."""
    block = Image.Exif()
    block[ORIENTATION] = orientation
    return block.tobytes()[len(b"Exif\0\0"):]


# --- JPEG: marker segments until the end of image ------------------------------------------

# Application segments kept, by their identifier: JFIF's header (pixel density), ICC colour
# profiles, and Adobe's colour transform (CMYK images need it). Every other APPn (EXIF,
# XMP, IPTC, makers' blocks, multi-picture indexes, JFXX's thumbnail, itself a JPEG that may
# carry EXIF) and comments go; the segments that are not APPn or COM are the image itself
# and are all kept.
_JPEG_APP_KEPT = {0xE0: (b"JFIF\0",), 0xE2: (b"ICC_PROFILE\0",), 0xEE: (b"Adobe",)}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn have no length
# Segments outside the entropy-coded data that a JPEG may have: a real one has tens (a
# progressive one's scans and tables, an ICC profile in up to 255 pieces); a file of
# millions of empty ones took seconds of a thread to walk.
_JPEG_MAX_SEGMENTS = 10_000


def _jpeg(data: mmap.mmap, out: BinaryIO) -> None:
    if data[:2] != b"\xff\xd8":
        raise Unreadable("not a JPEG")
    out.write(b"\xff\xd8")
    pos, end_of_file, exif_seen = 2, len(data), False
    for _ in range(_JPEG_MAX_SEGMENTS):
        if data[pos] != 0xFF:
            raise Unreadable(f"no marker at {pos}")
        while data[pos] == 0xFF:  # a marker may follow fill bytes
            pos += 1
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # end of image: what follows is not this image
            out.write(b"\xff\xd9")
            return
        if marker in _JPEG_STANDALONE:
            out.write(bytes((0xFF, marker)))
            continue
        length = int.from_bytes(data[pos:pos + 2], "big")
        end = pos + length
        if length < 2 or end > end_of_file:
            raise Unreadable(f"segment {marker:#x} runs past the end")
        payload = data[pos + 2:end] if 0xE0 <= marker <= 0xEF else b""
        if marker == 0xE1 and payload.startswith(b"Exif\0\0") and not exif_seen:
            exif_seen = True  # readers take the first EXIF block's orientation
            orientation = _orientation(payload)
            if orientation is not None:
                block = b"Exif\0\0" + _exif_with(orientation)
                out.write(b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block)
        elif marker == 0xFE or (0xE0 <= marker <= 0xEF and not payload.startswith(
                _JPEG_APP_KEPT.get(marker, ()))):
            pass
        else:
            _copy(data, out, pos - 2, end)
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            scan_end = _jpeg_scan_end(data, pos)
            _copy(data, out, pos, scan_end)
            pos = scan_end
            if pos >= end_of_file:  # cut off before its end: kept as far as it goes
                return
    raise Unreadable(f"more than {_JPEG_MAX_SEGMENTS} segments")


# In entropy-coded data, 0xFF is followed by a stuffed 0x00 or a restart marker (both part
# of the data); anything else after it is the next marker. Searched by the regular
# expression engine: a file of nothing but stuffed bytes took seconds looped in Python.
_JPEG_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _jpeg_scan_end(data: mmap.mmap, pos: int) -> int:
    """Where the entropy-coded data starting at ``pos`` ends (the file's end if it was cut
    off before its next marker)."""
    found = _JPEG_MARKER_IN_SCAN.search(data, pos)
    return len(data) if found is None else found.start()


# --- PNG: chunks until IEND ------------------------------------------------------------------

# What displays the image: the critical chunks, colour and transparency, the pixel size,
# and APNG's animation. Gone: eXIf (written again with the orientation alone), tEXt, zTXt
# and iTXt (XMP lives there, and EXIF as ImageMagick's raw profile), tIME, private chunks.
_PNG_KEPT = frozenset({
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"mDCv", b"cLLI", b"cLLi", b"bKGD", b"hIST", b"pHYs", b"sPLT",
    b"acTL", b"fcTL", b"fdAT"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def _png(data: mmap.mmap, out: BinaryIO) -> None:
    if data[:8] != _PNG_SIGNATURE:
        raise Unreadable("not a PNG")
    out.write(_PNG_SIGNATURE)
    pos, exif_seen = 8, False
    while True:
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise Unreadable(f"chunk {kind!r} runs past the end")
        if kind == b"eXIf" and not exif_seen:
            exif_seen = True
            orientation = _orientation(data[pos + 8:pos + 8 + length])
            if orientation is not None:
                out.write(_png_chunk(b"eXIf", _exif_with(orientation)))
        elif kind in _PNG_KEPT:
            _copy(data, out, pos, end)
        if kind == b"IEND":
            return
        pos = end


# --- WebP: RIFF chunks -----------------------------------------------------------------------

# The image (lossy, lossless, alpha), its extended header, colour profile and animation
# (frames copied whole); XMP, unknown chunks and EXIF go (EXIF back with the orientation).
_WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ICCP", b"ANIM", b"ANMF"})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(data: mmap.mmap, out: BinaryIO) -> None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Unreadable("not a WebP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    riff_end = min(8 + riff_size, len(data))
    pieces: list[tuple[int, int] | bytes] = []  # byte ranges of the file, or new bytes
    pos, exif, vp8x = 12, b"", None
    while pos + 8 <= riff_end:
        kind = data[pos:pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        end = pos + 8 + size
        if end > len(data):
            raise Unreadable(f"chunk {kind!r} runs past the end")
        if kind == b"EXIF" and not exif:
            orientation = _orientation(data[pos + 8:end])
            if orientation is not None:
                body = _exif_with(orientation)
                exif = b"EXIF" + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)
        elif kind in _WEBP_KEPT:
            if kind == b"VP8X":
                vp8x = len(pieces)
            pieces.append((pos, end))
            if size & 1:
                pieces.append(b"\0")  # chunks are padded to an even size
        pos = end + (size & 1)
    if exif:
        if vp8x is None:  # only the extended format can say it has EXIF
            exif = b""
        else:
            pieces.append(exif)  # after the image, where the format puts it
    if vp8x is not None:
        start, end = pieces[vp8x]  # type: ignore[misc]
        header = bytearray(data[start:end])
        header[8] = (header[8] & ~(_VP8X_EXIF | _VP8X_XMP)) | (_VP8X_EXIF if exif else 0)
        pieces[vp8x] = bytes(header)
    total = 4 + sum(len(p) if isinstance(p, bytes) else p[1] - p[0] for p in pieces)
    out.write(b"RIFF" + struct.pack("<I", total) + b"WEBP")
    for piece in pieces:
        if isinstance(piece, bytes):
            out.write(piece)
        else:
            _copy(data, out, *piece)


# --- GIF: blocks until the trailer ------------------------------------------------------------

# Extensions kept: graphic control (timing, transparency), plain text (drawn on the image),
# and the application blocks of looping and of an ICC profile. Comments and other
# application blocks (XMP among them) go. GIF has no EXIF and no orientation.
_GIF_APPS_KEPT = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _gif_sub_blocks_end(data: mmap.mmap, pos: int) -> int:
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def _gif(data: mmap.mmap, out: BinaryIO) -> None:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise Unreadable("not a GIF")
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # global colour table
    _copy(data, out, 0, pos)
    while True:
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            out.write(b";")
            return
        if introducer == 0x2C:  # image: descriptor, local colour table, LZW data
            flags = data[pos + 9]
            data_start = pos + 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            end = _gif_sub_blocks_end(data, data_start + 1)
            _copy(data, out, pos, end)
        elif introducer == 0x21:
            label = data[pos + 1]
            end = _gif_sub_blocks_end(data, pos + 2)
            application = data[pos + 3:pos + 14] if data[pos + 2] == 11 else b""
            if label in (0xF9, 0x01) or (label == 0xFF and application in _GIF_APPS_KEPT):
                _copy(data, out, pos, end)
        else:
            raise Unreadable(f"unknown block {introducer:#x} at {pos}")
        pos = end


_REWRITERS = {"image/jpeg": _jpeg, "image/png": _png, "image/webp": _webp, "image/gif": _gif}
