"""HTTP responses that serve a stored object safely: validators, ranges, and no script.

* ``ETag`` is the content's SHA-256 (strong), ``Last-Modified`` the upload time;
  ``If-None-Match`` gives 304.
* One byte range (``Range: bytes=a-b``, ``a-``, ``-n``) gives 206 with
  ``Content-Range``; an unsatisfiable one 416; several ranges, an invalid one (its
  end before its start), or an ``If-Range`` that no longer matches, the whole file
  (all allowed by RFC 9110). Positions of any length are read.
* Every file response carries ``X-Content-Type-Options: nosniff`` and a
  Content-Security-Policy with ``sandbox`` and no script source, so even a file
  that a browser would render cannot run script in the site's origin; only the
  types known safe to display (PDF, raster images, video, plain text) are
  ``inline``, everything else is an ``attachment``. Text is always ``text/plain``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from focushub.core.errors import AppError, NotFound
from focushub.integrations.storage import ObjectMissing, ObjectStore

CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _disposition(kind: str, name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# Positions longer than this are beyond any file; not converted (Python refuses to convert
# numbers of more than 4,300 digits, and a header may hold one).
_MAX_DIGITS = 19


def _position(digits: str) -> int:
    return int(digits) if len(digits.lstrip("0")) <= _MAX_DIGITS else 10 ** _MAX_DIGITS


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single satisfiable range; None for no (usable) range, a range
    whose end is before its start included (not a valid range: RFC 9110, 14.1.1); raises
    416 for a range that starts beyond the file or an empty suffix."""
    if header is None or "," in header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = _position(last)
        if length == 0:
            raise AppError("The range is empty", code="range_not_satisfiable", status_code=416,
                           details={"size": size})
        return max(0, size - length), size - 1
    start = _position(first)
    if last and _position(last) < start:
        return None
    if start >= size:
        raise AppError("The range is outside the file", code="range_not_satisfiable",
                       status_code=416, details={"size": size})
    end = min(_position(last), size - 1) if last else size - 1
    return start, end


async def file_response(
    store: ObjectStore, key: str, *, headers: Headers, content_type: str, size: int,
    sha256: str, modified_at: datetime, name: str, inline: bool,
) -> Response:
    """Serve object ``key`` for a request with ``headers``. Precondition: the caller may read
    it (checked under RLS before calling)."""
    etag = f'"{sha256}"'
    base = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified_at, usegmt=True),
        "Cache-Control": "private, no-cache",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Content-Disposition": _disposition("inline" if inline else "attachment", name),
    }
    if_none_match = headers.get("if-none-match")
    if if_none_match and (if_none_match.strip() == "*" or etag in [
            t.strip().removeprefix("W/") for t in if_none_match.split(",")]):
        return Response(status_code=304, headers=base)
    wanted = headers.get("range")
    if_range = headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None
    span = _byte_range(wanted, size)
    start, end = span if span is not None else (0, size - 1)
    media = "text/plain; charset=utf-8" if content_type == "text/plain" else content_type
    chunks = store.read(key, start, end)
    try:
        first = await anext(chunks)
    except ObjectMissing:
        raise NotFound("The file is missing from storage", code="file_missing") from None
    except StopAsyncIteration:
        first = b""

    async def body() -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await _close(chunks)

    out = {**base, "Content-Length": str(end - start + 1)}
    if span is not None:
        out["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _StoredObjectResponse(chunks, body(), status_code=206 if span is not None else 200,
                                 headers=out, media_type=media)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    """Close the store's read (its file, or its connection to S3) now, even inside a
    cancelled scope (the client went away): left to the garbage collector, it stays open
    for as long as anything still refers to it."""
    with anyio.CancelScope(shield=True):
        await chunks.aclose()  # type: ignore[attr-defined]


class _StoredObjectResponse(StreamingResponse):
    """A streamed object whose read is closed however the response ends: sent whole, cut
    off by a client that went away (its body abandoned where it was), or never started
    (the client left before the headers went out, so the body never ran its ``finally``)."""

    def __init__(self, chunks: AsyncIterator[bytes], body: AsyncIterator[bytes],
                 **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await _close(self._chunks)


async def preview_response(store: ObjectStore, key: str, *, headers: Headers,
                           sha256: str) -> Response:
    """Serve the JPEG preview ``key`` of a file whose content is ``sha256`` for a request
    with ``headers``: an ETag (304 when it matches), revalidated on every use, and the same
    nosniff, sandboxing policy and same-origin rule as the file itself. Precondition: the
    caller may see it (checked under RLS before calling)."""
    etag = f'"{sha256}.preview"'
    base = {"ETag": etag, "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP,
            "Cross-Origin-Resource-Policy": "same-origin"}
    if headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=base)
    try:
        data = b"".join([chunk async for chunk in store.read(key)])
    except ObjectMissing:
        raise NotFound("The preview is missing from storage", code="preview_missing") from None
    return Response(data, media_type="image/jpeg", headers=base)
