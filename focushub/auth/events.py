"""Session ends on the realtime bus.

The writes that can end a session (tokens revoked: logout, an administrator ending it, a
password change, a reused refresh token; an account deactivated, suspended or deleted) say
so with ``pg_notify('focushub_sessions')`` from a trigger (0050), delivered at their commit.
:func:`bridge` turns that into a ``session.check`` event on the user's channel: the
gateway's sockets of that user (and session, when one is named) check their session at once
and close if it ended. The event is never sent to a client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from focushub.core.events import user_channel

DB_CHANNEL = "focushub_sessions"
SESSION_CHECK = "session.check"


def bridge(payload: str) -> Iterable[tuple[str, dict[str, Any]]]:
    body = orjson.loads(payload)
    return [(user_channel(body["user_id"]),
             {"type": SESSION_CHECK, "session_id": body.get("session_id")})]
