"""ASGI middleware: request body limits and JSON content type, answered in the error shape."""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from starlette.responses import Response
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


# Another answer to a refusal than the error shape (the web app's error pages): given the
# request's scope, the status, the error code, the message, the limit in bytes and whether
# it was an upload's, the response to send, or None to send the error shape.
Refusal = Callable[[Scope, int, str, str, int, bool], Response | None]


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


MAX_JSON_DEPTH = 64


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (strings skipped); cheap when the
    body holds fewer brackets than :data:`MAX_JSON_DEPTH`, the usual case."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


class BodyLimitMiddleware:
    """Refuse bodies over their limit with 413, by declared length or while streaming, and
    API bodies of the wrong type with 415.

    JSON bodies are limited to ``max_bytes``. Upload endpoints (a POST or PUT whose path
    matches one of ``upload_paths``) take ``multipart/form-data`` up to
    ``upload_max_bytes`` (the file limit plus room for the form's other fields); the
    file's own limit is checked exactly when it is received. ``refusal`` may answer a
    refusal otherwise (this middleware runs before the app's exception handlers, so a
    page's refusal would else be JSON).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, *, upload_max_bytes: int = 0,
                 upload_paths: tuple[re.Pattern[str], ...] = (),
                 refusal: Refusal | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths
        self.refusal = refusal

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str, message: str,
                      limit: int, upload: bool) -> None:
        response = (self.refusal(scope, status, code, message, limit, upload)
                    if self.refusal else None)
        if response is None:
            await _reply(send, status, code, message)
        else:
            await response(scope, _no_body, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        upload_path = any(p.fullmatch(scope["path"]) for p in self.upload_paths)
        upload = content_type == b"multipart/form-data" and upload_path
        limit = self.upload_max_bytes if upload else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await self._refuse(scope, send, 400, "bad_request", "Invalid Content-Length",
                                   limit, upload)
                return
            if too_large:
                await self._refuse(scope, send, 413, "payload_too_large",
                                   f"Request body over {limit} bytes", limit, upload)
                return
        has_body = declared not in (None, b"0") or b"transfer-encoding" in headers
        if (
            has_body
            and not upload
            and scope["path"].startswith("/api/")
            and content_type != b"application/json"
        ):
            # An upload endpoint also reads JSON far enough to say which fields it lacks.
            wanted = "multipart/form-data" if upload_path else "application/json"
            await _reply(send, 415, "unsupported_media_type", f"Send the request body as {wanted}")
            return

        if not upload:
            # A JSON (or form) body is small: read it whole first, so that one over the limit
            # is a 413 however it was sent (chunked too), and one nested absurdly deep a 422,
            # before a framework turns either into a generic 400.
            chunks: list[bytes] = []
            total = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > limit:
                    await self._refuse(scope, send, 413, "payload_too_large",
                                       f"Request body over {limit} bytes", limit, upload)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            if content_type == b"application/json" and json_depth(body) > MAX_JSON_DEPTH:
                await _reply(send, 422, "validation_error",
                             f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return

        received = 0
        response_started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # The app answered a body it could not read to its end: FastAPI turns any
                # failure to parse a form (_TooLarge too) into its own 400. It is a 413.
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await self._refuse(scope, send, 413, "payload_too_large",
                                       f"Request body over {limit} bytes", limit, upload)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._refuse(scope, send, 413, "payload_too_large",
                                   f"Request body over {limit} bytes", limit, upload)
