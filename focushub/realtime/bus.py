"""The realtime bus: fan-out of events to the WebSockets of every server process.

Channels are ``room:<uuid>`` and ``user:<uuid>``. A publisher hands an event to
the *backend*, which brings it to every process, where the :class:`Hub` offers
it to the local sockets subscribed to that channel.

Backends:

* ``local``: this process only (tests, or a single process without a database).
* ``postgres`` (default): ``NOTIFY focushub_realtime`` on a dedicated asyncpg
  connection as the login role, ``LISTEN`` on another. No extra service.
* ``redis`` (when ``FOCUSHUB_REDIS_URL`` is set): pub/sub on ``focushub:realtime``.

Room events are numbered (``seq``) and stored in ``chat_room_events``, so the bus
may lose or reorder them: a socket that sees a gap loads what is missing from
the database. That load is for real losses (a dropped LISTEN connection), not
for ordinary traffic:

* On PostgreSQL the writer sends room events with NOTIFY *inside* its own
  transaction (:meth:`RealtimeBus.publish_room_events_on_commit`). PostgreSQL
  delivers notifications in commit order, and a room's ``seq`` is taken under
  its row lock, which is held until commit, so every process receives each
  room's events in ``seq`` order however many processes write to the room, and
  a write is one transaction, not a write plus a NOTIFY transaction.
* Redis is published to after the commit, so the events of two processes can
  arrive swapped; the :class:`Hub` holds an early event back briefly and hands
  the room's events to its sockets in order.

Without either, every socket of the room would see a gap, query the database
for the "missing" event and then drop it as a duplicate when it arrived.

On PostgreSQL an event whose JSON is over :data:`MAX_INLINE_BYTES` travels as a
*stub* (type, room, seq) and each socket loads it from the database as its
user, so NOTIFY's 8,000-byte limit never drops anything (Redis carries events
whole). ``notification.created`` comes from the database itself
(``pg_notify('focushub_notifications')`` in a trigger, delivered at commit), so
every process listens on PostgreSQL for it whatever the fan-out backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import asyncpg
import orjson

from focushub.core.db import Tx

log = logging.getLogger("focushub.realtime")

FANOUT_CHANNEL = "focushub_realtime"
NOTIFICATIONS_CHANNEL = "focushub_notifications"
REDIS_CHANNEL = "focushub:realtime"
# NOTIFY refuses payloads of 8,000 bytes or more; leave room for the envelope.
MAX_INLINE_BYTES = 7000


class Subscriber(Protocol):
    def offer(self, channel: str, event: dict[str, Any]) -> None:
        """Take an event without blocking (a full queue is the subscriber's problem)."""


# How long the hub keeps a room event that arrived ahead of an earlier one before
# handing it on anyway (the sockets then load the missing ones from the database).
REORDER_HOLD_SECONDS = 0.25


class _RoomOrder:
    """Per room channel with local subscribers: the last ``seq`` handed on, and the
    events held back behind a gap."""

    __slots__ = ("held", "last", "timer")

    def __init__(self, last: int) -> None:
        self.last = last
        self.held: dict[int, dict[str, Any]] = {}
        self.timer: asyncio.TimerHandle | None = None


class Hub:
    """Local subscriptions of this process: channel -> sockets.

    Room events are handed to the sockets in ``seq`` order once per process: an
    event that arrives before an earlier one of its room (two processes
    publishing after their commits, racing on Redis) is held back until the
    earlier one arrives, for at most :data:`REORDER_HOLD_SECONDS`. Without this
    every socket of the room would see a gap, query the database for the
    missing event, and then drop the late copy as a duplicate. Events that are
    really lost still reach the sockets' own gap detection, after the hold.
    """

    def __init__(self, *, hold_seconds: float = REORDER_HOLD_SECONDS) -> None:
        self._subs: dict[str, set[Subscriber]] = {}
        self._order: dict[str, _RoomOrder] = {}
        self.hold_seconds = hold_seconds

    def add(self, channel: str, sub: Subscriber) -> None:
        self._subs.setdefault(channel, set()).add(sub)

    def discard(self, channel: str, sub: Subscriber) -> None:
        subs = self._subs.get(channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[channel]
                order = self._order.pop(channel, None)
                if order is not None and order.timer is not None:
                    order.timer.cancel()

    def note_stored(self, channel: str, seq: int) -> None:
        """Record that the room's events up to ``seq`` are stored (a socket read its
        ``last_event_seq``), so that the room's first event here is ordered too. Ignored
        once the hub has handed on an event of the room."""
        if channel in self._subs and channel not in self._order:
            self._order[channel] = _RoomOrder(seq)

    def dispatch(self, channel: str, event: dict[str, Any]) -> None:
        seq = event.get("seq")
        if not channel.startswith("room:") or not isinstance(seq, int) or channel not in self._subs:
            self._offer(channel, event)
            return
        order = self._order.get(channel)
        if order is None:
            self._order[channel] = _RoomOrder(seq)
            self._offer(channel, event)
        elif seq <= order.last:
            self._offer(channel, event)  # a repeat, or late after a hold: the sockets decide
        elif seq == order.last + 1:
            order.last = seq
            self._offer(channel, event)
            self._release(channel, order)
        else:
            order.held[seq] = event
            if order.timer is None:
                order.timer = asyncio.get_running_loop().call_later(
                    self.hold_seconds, self._give_up, channel)

    def _release(self, channel: str, order: _RoomOrder) -> None:
        """Hand on the held events that now follow without a gap."""
        while order.held:
            event = order.held.pop(order.last + 1, None)
            if event is None:
                return
            order.last += 1
            self._offer(channel, event)
        if order.timer is not None:
            order.timer.cancel()
            order.timer = None

    def _give_up(self, channel: str) -> None:
        order = self._order.get(channel)
        if order is None:
            return
        order.timer = None
        for seq in sorted(order.held):
            order.last = seq
            self._offer(channel, order.held.pop(seq))

    def _offer(self, channel: str, event: dict[str, Any]) -> None:
        for sub in list(self._subs.get(channel, ())):
            sub.offer(channel, event)

    def subscribers(self, channel: str) -> list[Subscriber]:
        return list(self._subs.get(channel, ()))


def _plain_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return orjson.loads(value)
    return value


def room_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """The wire shape of a ``chat_room_events`` row."""
    return {
        "type": row["type"],
        "room_id": str(row["room_id"]),
        "seq": row["seq"],
        "data": _jsonable(row["payload"]),
        "created_at": row["created_at"].isoformat() if hasattr(row["created_at"], "isoformat")
        else row["created_at"],
    }


def _stub(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": event["type"], "room_id": event["room_id"], "seq": event["seq"], "stub": True}


# Events that concern one user beyond the room: they also go to that user's channel,
# so a client learns about a room it was just added to and stops at once when removed.
_USER_EVENTS = {"participant.added", "participant.removed", "participant.updated"}


class RealtimeBus:
    """One per process. ``publish*`` never raises: realtime is best effort on top of the
    database, which stays the source of truth (clients resume from it)."""

    def __init__(self, *, database_url: str | None, redis_url: str | None = None,
                 backend: str | None = None) -> None:
        self.hub = Hub()
        self.database_url = _plain_dsn(database_url) if database_url else None
        self.redis_url = redis_url
        self.backend = backend or ("redis" if redis_url else "postgres" if database_url else "local")
        self._started = False
        self._listen_conn: asyncpg.Connection | None = None
        self._notify_conn: asyncpg.Connection | None = None
        self._notify_lock = asyncio.Lock()
        self._redis: Any = None
        self._redis_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self.database_url:
            await self._connect_postgres()
            self._watch_task = asyncio.create_task(self._watch_postgres())
        if self.backend == "redis":
            import redis.asyncio as redis

            self._redis = redis.from_url(self.redis_url)
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(REDIS_CHANNEL)
            self._redis_task = asyncio.create_task(self._read_redis(pubsub))
        self._started = True
        log.info("realtime bus started (fan-out: %s)", self.backend)

    async def stop(self) -> None:
        self._started = False
        for task in (self._redis_task, self._watch_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
        for conn in (self._listen_conn, self._notify_conn):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
        self._listen_conn = self._notify_conn = None

    async def _connect_postgres(self) -> None:
        assert self.database_url is not None
        for old in (self._listen_conn, self._notify_conn):
            if old is not None:
                old.terminate()
        self._listen_conn = self._notify_conn = None
        listen = await asyncpg.connect(self.database_url, server_settings={
            "application_name": "focushub-realtime"})
        await listen.add_listener(NOTIFICATIONS_CHANNEL, self._on_pg_notification)
        if self.backend == "postgres":
            await listen.add_listener(FANOUT_CHANNEL, self._on_pg_fanout)
            self._notify_conn = await asyncpg.connect(self.database_url, server_settings={
                "application_name": "focushub-realtime"})
        self._listen_conn = listen

    async def _watch_postgres(self) -> None:
        """Reconnect the LISTEN connection when it drops. Room events missed meanwhile are
        recovered by the sockets' gap detection; notifications stay in the REST list."""
        while True:
            await asyncio.sleep(2)
            healthy = [c for c in (self._listen_conn, self._notify_conn) if c is not None
                       and not c.is_closed()]
            if self._listen_conn is not None and len(healthy) == (
                    2 if self.backend == "postgres" else 1):
                continue
            try:
                await self._connect_postgres()
                log.warning("realtime: reconnected to PostgreSQL")
            except (OSError, asyncpg.PostgresError):
                log.warning("realtime: PostgreSQL unreachable, retrying")

    # --- receiving ---------------------------------------------------------------------

    def _deliver(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
            self.hub.dispatch(message["ch"], message["ev"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("realtime: dropped a malformed bus message")

    def _on_pg_fanout(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._deliver(payload)

    def _on_pg_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            body = orjson.loads(payload)
            user_id = body["user_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if "notification" in body:
            event = {"type": "notification.created", "data": body["notification"]}
        else:
            event = {"type": "notification.created", "id": body["id"], "stub": True}
        self.hub.dispatch(f"user:{user_id}", event)

    async def _read_redis(self, pubsub: Any) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._deliver(message["data"])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception:
                log.warning("realtime: Redis subscription failed, retrying", exc_info=True)
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(REDIS_CHANNEL)

    # --- publishing --------------------------------------------------------------------

    def _body(self, channel: str, event: dict[str, Any]) -> bytes:
        """The bus message for ``event``; on PostgreSQL a room event too long for NOTIFY
        becomes a stub that receivers load."""
        body = orjson.dumps({"ch": channel, "ev": event})
        if len(body) > MAX_INLINE_BYTES and "seq" in event and self.backend == "postgres":
            body = orjson.dumps({"ch": channel, "ev": _stub(event)})
        return body

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        """Send ``event`` to ``channel`` in every process (this one included)."""
        body = self._body(channel, event)
        try:
            if not self._started or self.backend == "local":
                self._deliver(body)
            elif self.backend == "redis":
                await self._redis.publish(REDIS_CHANNEL, body)
            else:
                if len(body) > MAX_INLINE_BYTES:
                    return  # an oversized ephemeral event (typing, presence) is dropped
                assert self._notify_conn is not None
                async with self._notify_lock:
                    await self._notify_conn.execute(
                        "SELECT pg_notify($1, $2)", FANOUT_CHANNEL, body.decode()
                    )
        except Exception:
            log.warning("realtime: publish to %s failed", channel, exc_info=True)

    async def publish_room_events_on_commit(self, tx: Tx, rows: Iterable[Mapping[str, Any]]) -> None:
        """Have the ``chat_room_events`` rows that ``tx`` wrote published when it commits.

        Call last in the transaction, after every write. On PostgreSQL this is one
        ``pg_notify`` statement inside ``tx``: nothing is sent if it rolls back, and
        listeners get each room's events in ``seq`` order (see the module docstring).
        Other backends, or a bus not started, publish after the commit.
        """
        messages = _room_messages(rows)
        if not messages:
            return
        if not (self._started and self.backend == "postgres"):
            tx.after_commit(lambda: self._publish_all(messages))
            return
        # Room events are never dropped for size: a long one travels as a stub.
        bodies = [self._body(channel, event).decode() for channel, event in messages]
        # A volatile function in the select list is evaluated after the sort: in order.
        await tx.execute(
            "SELECT pg_notify(:channel, b.body)"
            " FROM unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS b(body, ord) ORDER BY b.ord",
            channel=FANOUT_CHANNEL, bodies=bodies,
        )

    async def _publish_all(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish committed room events (after commit only)."""
        for channel, event in messages:
            await self.publish(channel, event)


def _room_messages(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(channel, event) for each ``chat_room_events`` row, in order: the room channel, and
    also the user's channel for the events in :data:`_USER_EVENTS`."""
    messages = []
    for row in rows:
        event = room_event(row)
        messages.append((f"room:{event['room_id']}", event))
        if event["type"] in _USER_EVENTS:
            messages.append((f"user:{event['data']['user_id']}", event))
    return messages
