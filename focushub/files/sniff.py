"""What an uploaded file really is: its type from its content, checked against its name.

The client's Content-Type and file name are not trusted. The first bytes give the
format (puremagic's signatures); a zip container is told apart by its members
(an Office Open XML or OpenDocument file is a zip with known entries); text is
text only if the whole file is UTF-8 without NUL bytes and is not HTML (a browser
would run it). The name's extension must agree with what was found: a PNG named
``.pdf`` or HTML named ``.txt`` is refused.

Archives are checked without extracting anything: the central directory must
promise no more than :data:`MAX_UNPACKED_BYTES` in all and no member may
compress better than :data:`MAX_RATIO` (a zip bomb's tell).
"""

from __future__ import annotations

import codecs
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import puremagic


@dataclass(frozen=True, slots=True)
class Kind:
    """An allowed type: its MIME type, the short ``file_type`` stored on a resource, the
    extensions a name may have, and whether a browser may show it inline."""

    mime: str
    short: str
    extensions: frozenset[str]
    inline: bool


def _k(mime: str, short: str, exts: str, inline: bool = False) -> Kind:
    return Kind(mime, short, frozenset(exts.split()), inline)


PDF = _k("application/pdf", "pdf", ".pdf", inline=True)
PNG = _k("image/png", "image", ".png", inline=True)
JPEG = _k("image/jpeg", "image", ".jpg .jpeg .jpe .jfif", inline=True)
GIF = _k("image/gif", "image", ".gif", inline=True)
WEBP = _k("image/webp", "image", ".webp", inline=True)
MP4 = _k("video/mp4", "video", ".mp4 .m4v", inline=True)
WEBM = _k("video/webm", "video", ".webm", inline=True)
ZIP = _k("application/zip", "archive", ".zip")
DOCX = _k("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document",
          ".docx")
XLSX = _k("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "spreadsheet",
          ".xlsx")
PPTX = _k("application/vnd.openxmlformats-officedocument.presentationml.presentation",
          "presentation", ".pptx")
ODT = _k("application/vnd.oasis.opendocument.text", "document", ".odt")
ODS = _k("application/vnd.oasis.opendocument.spreadsheet", "spreadsheet", ".ods")
ODP = _k("application/vnd.oasis.opendocument.presentation", "presentation", ".odp")
OLE = _k("application/x-ole-storage", "document", ".doc .xls .ppt")
# Text is served as text/plain whatever it holds (Markdown and code included), never as HTML.
TEXT = _k("text/plain", "text",
          ".txt .md .markdown .rst .csv .tsv .json .yaml .yml .toml .ini .log .tex .py .ipynb "
          ".js .ts .jsx .tsx .java .kt .c .h .cpp .hpp .cc .cs .go .rs .rb .php .swift .scala "
          ".sql .sh .r .m .jl .lua .pl .hs .css .scss .xml")

IMAGES = (PNG, JPEG, GIF, WEBP)
_BY_MIME = {k.mime: k for k in (PDF, PNG, JPEG, GIF, WEBP, MP4, WEBM)}
_OOXML = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}
_ODF = {ODT.mime: ODT, ODS.mime: ODS, ODP.mime: ODP}
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200
MAX_MEMBERS = 10_000
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml-stylesheet")


class Refused(Exception):
    """The file is not accepted; ``code`` and ``status`` say why (415 type, 422 content)."""

    def __init__(self, code: str, message: str, status: int = 415) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _magic(head: bytes) -> Kind | None:
    if head.startswith(_OLE_MAGIC):
        return OLE
    if head[:4] == b"PK\x03\x04":
        return ZIP
    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:
        return None
    for match in matches:
        if match.mime_type in _BY_MIME:
            return _BY_MIME[match.mime_type]
        if match.extension in (".mp4", ".m4v", ".mov") and head[4:8] == b"ftyp":
            return MP4
    return None


# What reading a damaged archive raises: a bad CRC or header (BadZipFile), a member that
# is encrypted (RuntimeError) or compressed by a method zipfile lacks (NotImplementedError),
# a truncated or corrupt stream (EOFError, zlib.error, lzma/bz2's OSError, ValueError).
_UNREADABLE = (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error,
               OSError, ValueError)


def _zip_kind(file: BinaryIO) -> Kind:
    """ZIP, or the Office/OpenDocument format it holds; refuses bomb-like archives and
    archives whose members cannot be read (422 ``corrupt_archive``)."""
    try:
        return _zip_members_kind(file)
    except _UNREADABLE:
        raise Refused("corrupt_archive", "The archive cannot be read", 422) from None


def _zip_members_kind(file: BinaryIO) -> Kind:
    archive = zipfile.ZipFile(file)
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise Refused("archive_too_large", f"Archives may hold at most {MAX_MEMBERS} files", 422)
        total = 0
        for member in members:
            total += member.file_size
            if member.file_size > MAX_RATIO * max(member.compress_size, 1) and member.file_size > 1_000_000:
                raise Refused("archive_bomb", "An archive member unpacks to far more than it takes", 422)
        if total > MAX_UNPACKED_BYTES:
            raise Refused("archive_bomb", "The archive unpacks to more than 1 GiB", 422)
        names = {m.filename for m in members}
        if "[Content_Types].xml" in names:
            for folder, kind in _OOXML.items():
                if any(n.startswith(folder) for n in names):
                    return kind
        if "mimetype" in names:
            # Its first bytes name the type; the member may unpack to far more (up to the
            # archive's whole allowance), which is not for a request to hold.
            with archive.open("mimetype") as member:
                declared = member.read(100).decode("ascii", "replace").strip()
            if declared in _ODF:
                return _ODF[declared]
    return ZIP


def _text_kind(file: BinaryIO) -> Kind | None:
    """TEXT if the whole file is UTF-8 without NUL bytes and does not look like HTML."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    file.seek(0)
    head = file.read(4096)
    if any(marker in head.lower() for marker in _HTML_MARKERS):
        return None
    chunk = head
    while chunk:
        if b"\x00" in chunk:
            return None
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            return None
        chunk = file.read(1024 * 1024)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return TEXT


def sniff(path: Path, name: str) -> Kind:
    """The allowed kind of the file at ``path`` named ``name``; raises :class:`Refused`."""
    with path.open("rb") as file:
        head = file.read(8192)
        kind = _magic(head)
        if kind is ZIP:
            file.seek(0)
            kind = _zip_kind(file)
        elif kind is None:
            kind = _text_kind(file)
    if kind is None:
        raise Refused("unsupported_type", "This type of file is not accepted (PDF, images, video, "
                      "text and code, office documents and zip are)")
    ext = extension(name)
    if ext not in kind.extensions:
        raise Refused("type_mismatch",
                      f"The content is {kind.mime} but the name ends in {ext or 'nothing'}")
    return kind


# Characters that reorder the text around them: "invoice\u202efdp.txt" shows as
# "invoicetxt.pdf", a name that lies about its type to whoever reads it.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")


def check_name(name: str) -> str:
    """The file name as given, if acceptable: 1-255 characters, no path separators, no
    control characters (C0, DEL and C1, as the database's ``[:cntrl:]``, and the
    bidirectional ones); raises :class:`Refused` (422) otherwise."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 255:
        raise Refused("invalid_file_name", "File names have 1 to 255 characters", 422)
    if "/" in cleaned or "\\" in cleaned or cleaned in (".", ".."):
        raise Refused("invalid_file_name", "File names may not contain path separators", 422)
    if any(ord(c) < 32 or 127 <= ord(c) < 160 or c in _BIDI_CONTROLS for c in cleaned):
        raise Refused("invalid_file_name", "File names may not contain control characters", 422)
    return cleaned


_ALL = {k.mime: k for k in (PDF, PNG, JPEG, GIF, WEBP, MP4, WEBM, ZIP, DOCX, XLSX, PPTX, ODT, ODS,
                            ODP, OLE, TEXT)}


def inline(mime: str) -> bool:
    """Whether a browser may display a file of this (stored, sniffed) type in place."""
    kind = _ALL.get(mime)
    return kind is not None and kind.inline
