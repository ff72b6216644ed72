"""The realtime gateway: one WebSocket endpoint, ``/api/v1/realtime``.

Authenticate with ``?access_token=`` or a first frame ``{"type": "auth", ...}``;
the protocol, events and close codes are described in focushub/realtime/gateway.py.

The endpoint is an ASGI middleware (:class:`RealtimeEntrance`, the outermost one) rather
than a route: a socket lives for hours, and a route would keep every HTTP middleware's and
the router's frames, and FastAPI's per-request state, alive for each one of thousands of
idle sockets. Everything those layers do concerns HTTP requests only.
"""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from focushub.realtime import gateway
from focushub.realtime.gateway import Connection, authenticate

PATH = "/api/v1/realtime"


# Open sockets per account in this process (gateway.MAX_SOCKETS_PER_USER).
_OPEN: Counter[str] = Counter()


async def realtime(ws: WebSocket) -> None:
    rt = ws.app.state.runtime
    auth = await authenticate(ws, rt)
    if auth is None:
        return
    caller, expires_at = auth
    user = str(caller.user_id)
    if _OPEN[user] >= gateway.MAX_SOCKETS_PER_USER:
        await ws.close(gateway.CLOSE_TOO_MANY, "too many connections of this account")
        return
    _OPEN[user] += 1
    try:
        await Connection(ws, rt, caller, expires_at).run()
    finally:
        _OPEN[user] -= 1
        if not _OPEN[user]:
            del _OPEN[user]


class RealtimeEntrance:
    """Hands WebSockets for :data:`PATH` to the gateway; everything else goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            await realtime(WebSocket(scope, receive, send))
            return
        await self.app(scope, receive, send)
