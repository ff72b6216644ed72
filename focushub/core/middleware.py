"""ASGI middleware: request body limits and JSON content type, answered in the error shape."""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from focushub.core.errors import error_body

_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps(error_body(code, message))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over their limit with 413, by declared length or while streaming, and
    API bodies of the wrong type with 415.

    JSON bodies are limited to ``max_bytes``. Upload endpoints (a POST or PUT whose path
    matches one of ``upload_paths``) take ``multipart/form-data`` up to
    ``upload_max_bytes`` (the file limit plus room for the form's other fields); the
    file's own limit is checked exactly when it is received.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, *, upload_max_bytes: int = 0,
                 upload_paths: tuple[re.Pattern[str], ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        upload = (content_type == b"multipart/form-data"
                  and any(p.fullmatch(scope["path"]) for p in self.upload_paths))
        limit = self.upload_max_bytes if upload else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await _reply(send, 400, "bad_request", "Invalid Content-Length")
                return
            if too_large:
                await _reply(send, 413, "payload_too_large", f"Request body over {limit} bytes")
                return
        has_body = declared not in (None, b"0") or b"transfer-encoding" in headers
        if (
            has_body
            and not upload
            and scope["path"].startswith("/api/")
            and content_type != b"application/json"
        ):
            await _reply(send, 415, "unsupported_media_type", "Send the request body as application/json")
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await _reply(send, 413, "payload_too_large", f"Request body over {limit} bytes")
