"""The realtime gateway: one WebSocket endpoint, ``/api/v1/realtime``.

Authenticate with ``?access_token=`` or a first frame ``{"type": "auth", ...}``;
the protocol, events and close codes are described in focushub/realtime/gateway.py.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from focushub.realtime.gateway import Connection, authenticate

router = APIRouter(tags=["realtime"])


@router.websocket("/api/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    rt = ws.app.state.runtime
    auth = await authenticate(ws, rt)
    if auth is None:
        return
    caller, expires_at = auth
    connection = Connection(ws, rt, caller, expires_at)
    await connection.run()
