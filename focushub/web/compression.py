"""gzip for what compresses and is whole: pages, JSON, CSS and scripts.

Starlette's ``GZipMiddleware`` compresses every type it does not know to exclude. Two kinds
of response must never be touched, whatever their type:

* **Downloads** (any response with ``Content-Disposition``: stored files, the account
  export). Their ``ETag`` is the SHA-256 of the bytes as stored and they answer byte
  ranges of those bytes; a gzipped body would carry a validator and offsets that no longer
  describe it. Most are already compressed anyway (PDF, images, zip).
* **Streams** (``text/event-stream``): each event must reach the client when it is sent,
  not when a compressor's buffer fills.

So this compresses an allow-list of text types only and hands everything else through
untouched. Partial content (206), bodies already encoded, and bodies under
``minimum_size`` are left alone by Starlette's responder itself.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware, GZipResponder
from starlette.types import Message, Receive, Scope, Send

COMPRESSIBLE = frozenset({
    "text/html", "text/css", "text/plain", "text/javascript", "text/xml", "text/csv",
    "application/json", "application/problem+json", "application/javascript",
    "application/xml", "image/svg+xml",
})


def compressible(headers: Headers) -> bool:
    if "content-disposition" in headers:
        return False
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type in COMPRESSIBLE


class Compression(GZipMiddleware):
    """``GZipMiddleware`` restricted to :data:`COMPRESSIBLE` bodies that are not downloads."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "gzip" not in Headers(scope=scope).get("accept-encoding", ""):
            await self.app(scope, receive, send)
            return
        passthrough = False

        async def choose(scope: Scope, receive: Receive, to_gzip: Send) -> None:
            async def route(message: Message) -> None:
                nonlocal passthrough
                if message["type"] == "http.response.start":
                    passthrough = not compressible(Headers(raw=message.get("headers", [])))
                # The responder sends nothing it was not given: a response routed past it
                # goes out exactly as the app made it.
                await (send if passthrough else to_gzip)(message)

            await self.app(scope, receive, route)

        responder = GZipResponder(choose, self.minimum_size, compresslevel=self.compresslevel,
                                  thread_minimum_size=self.thread_minimum_size,
                                  exclude_content_types=self.exclude_content_types)
        await responder(scope, receive, send)
