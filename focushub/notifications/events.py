"""Notifications on the realtime bus.

Notifications are written by database triggers (0007), so the database also
announces them: ``pg_notify('focushub_notifications')`` in a trigger (0008),
delivered when the writing transaction commits. :func:`bridge` turns that
payload into a ``notification.created`` event on the recipient's
``user:<uuid>`` channel. A payload over NOTIFY's limit carries the id alone
(a stub); the gateway loads it as the recipient (:func:`service.get_notification`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

DB_CHANNEL = "focushub_notifications"


def bridge(payload: str) -> Iterable[tuple[str, dict[str, Any]]]:
    body = orjson.loads(payload)
    channel = f"user:{body['user_id']}"
    if "notification" in body:
        return [(channel, {"type": "notification.created", "data": body["notification"]})]
    return [(channel, {"type": "notification.created", "id": body["id"], "stub": True})]
