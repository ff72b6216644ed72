"""Notifications on the realtime bus.

Notifications are written by database triggers (0007), so the database also
announces them: ``pg_notify('focushub_notifications')`` in a trigger (0008, 0055),
delivered when the writing transaction commits. :func:`bridge` turns that
payload into an event on the recipient's ``user:<uuid>`` channel:
``notification.created`` for news (a new notification, or another action joining an
unread one) and ``notification.updated`` for an unread one changed otherwise (its quoted
words edited or hidden, one of its people gone). A payload over NOTIFY's limit carries
the id alone (a stub); the gateway loads it as the recipient
(:func:`service.get_notification`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

DB_CHANNEL = "focushub_notifications"
EVENT_TYPES = ("notification.created", "notification.updated")


def bridge(payload: str) -> Iterable[tuple[str, dict[str, Any]]]:
    body = orjson.loads(payload)
    channel = f"user:{body['user_id']}"
    kind = "notification.updated" if body.get("op") == "updated" else "notification.created"
    if "notification" in body:
        return [(channel, {"type": kind, "data": body["notification"]})]
    return [(channel, {"type": kind, "id": body["id"], "stub": True})]
