"""Chat's realtime events: the wire shape of ``chat_room_events`` rows and their channels.

Room events are written by the database (triggers number them per room under
the room row lock); a chat write reads back the ones its own transaction wrote
(``chat_transaction_events()``) just before the commit and publishes them
through the transaction, so they are sent if and only if it commits, in
``seq`` order (focushub/core/events.py).

Channels: ``room:<uuid>`` carries a room's events, sequenced by ``seq``;
``user:<uuid>`` carries the participant events about that user (so a client
learns about a room it was added to, and stops at once when removed),
``invitation.created`` (invited to a group room; no ``seq``: the invitee reads no
event of the room) and ``notification.created``. The recipient of a message
request is not told of it (no ``participant.added`` on their channel): the request
waits in their requests list (0031).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from focushub.chat import queries
from focushub.core.db import Tx
from focushub.core.events import user_channel

# Events that concern one user beyond the room: they also go to that user's channel.
USER_EVENTS = frozenset({"participant.added", "participant.removed", "participant.updated"})


def room_channel(room_id: object) -> str:
    return f"room:{room_id}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return orjson.loads(value)
    return value


def room_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """The wire shape of a ``chat_room_events`` row."""
    created_at = row["created_at"]
    return {
        "type": row["type"],
        "room_id": str(row["room_id"]),
        "seq": row["seq"],
        "data": _jsonable(row["payload"]),
        "created_at": created_at.isoformat() if hasattr(created_at, "isoformat") else created_at,
    }


def stored_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``chat_room_events`` row that came as JSON (``chat_send_messages()``), with its
    ``created_at`` as the datetime a row read by SQL has."""
    return {**row, "created_at": datetime.fromisoformat(row["created_at"])}


def stub(event: Mapping[str, Any]) -> dict[str, Any]:
    """What travels instead of a room event too long for NOTIFY; sockets load the rest."""
    return {"type": event["type"], "room_id": event["room_id"], "seq": event["seq"], "stub": True}


def publish_rows(tx: Tx, rows: list[Mapping[str, Any]],
                 quiet: frozenset[tuple[str, str]] = frozenset()) -> None:
    """Publish ``chat_room_events`` rows through ``tx`` (sent when it commits). ``quiet``:
    (room id, user id) pairs whose ``participant.added`` stays off the user's channel."""
    for row in rows:
        event = room_event(row)
        short = stub(event)
        tx.publish(room_channel(event["room_id"]), event, seq=event["seq"], stub=short)
        if event["type"] in USER_EVENTS:
            user_id = str(event["data"]["user_id"])
            if event["type"] == "participant.added" and (event["room_id"], user_id) in quiet:
                continue
            tx.publish(user_channel(user_id), event, stub=short)


def noted_invitations(noted: str | None) -> list[tuple[str, str, str]]:
    """The ``(kind, room id, user id)`` entries of ``focushub.tx_invitations`` (0031)."""
    entries = []
    for item in (noted or "").split(","):
        parts = item.split(":")
        if len(parts) == 3:
            entries.append((parts[0], parts[1], parts[2]))
    return entries


async def publish_transaction_events(tx: Tx) -> None:
    """Before-commit hook of chat writes: publish the room events ``tx`` wrote, and tell the
    people it invited to a group."""
    rows = await tx.all(queries.TRANSACTION_EVENTS)
    noted = noted_invitations(rows[0]["noted"] if rows else None)
    quiet = frozenset((room, user) for kind, room, user in noted if kind == "request")
    publish_rows(tx, [dict(r) for r in rows if r["room_id"] is not None], quiet)
    for kind, room, user in noted:
        if kind == "invitation":
            tx.publish(user_channel(user), {"type": "invitation.created", "room_id": room,
                                            "data": {"room_id": room, "user_id": user}})
