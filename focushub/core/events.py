"""The event bus: fan-out of events to the subscribers (sockets) of every server process.

It knows channels and events, not what they mean: a domain publishes
``(channel, data)`` through its transaction (:meth:`focushub.core.db.Tx.publish`)
and a client (the realtime gateway) subscribes to channels on the :class:`Hub`.

Backends:

* ``local``: this process only (tests, or a single process without a database).
* ``postgres`` (default): ``NOTIFY focushub_realtime`` as the login role, ``LISTEN``
  on a dedicated asyncpg connection. No extra service.

The bus's own connections (LISTEN, and NOTIFY of ephemeral events) go to
``database_url`` as given: the runtime hands it PostgreSQL itself
(``FOCUSHUB_DIRECT_DATABASE_URL``) when requests go through a transaction pooler,
where a LISTEN would be lost with the server session it ran on. Events sent inside a
transaction travel with that transaction, through the pooler or not.
* ``redis`` (when ``FOCUSHUB_REDIS_URL`` is set): pub/sub on ``focushub:realtime``.

**When events are sent.** Events published through a transaction are sent if
and only if it commits. On PostgreSQL they go out with ``pg_notify`` *inside*
the writing transaction (:meth:`EventBus.send_in_transaction`): PostgreSQL
delivers notifications at commit, in commit order. A publisher that numbers a
channel's events under a row lock held until commit (chat rooms' ``seq``) thus
has every process receive that channel's events in order, however many
processes write to it, and a write is one transaction, not a write plus a
NOTIFY transaction. On Redis (and ``local``) they are published right after the
commit, so events of two processes can arrive swapped: the :class:`Hub` holds
an early *sequenced* event back briefly and hands the channel's events on in
order.

**Sequenced and ephemeral events.** An event published with a ``seq`` is a
position in a stream the publisher has stored; the bus may lose or reorder it
and the subscriber reloads what is missing. On PostgreSQL a sequenced event
whose JSON is over :data:`MAX_INLINE_BYTES` travels as its ``stub`` (given by
the publisher), which the subscriber loads, so NOTIFY's 8,000-byte limit
never drops one. An event without a stub (ephemeral: typing, presence) that is
too long is dropped. Events sent together share notifications (:func:`pack`): as
many as fit travel as one JSON array, unpacked in order by every bus (a transaction's
events on Redis too).

**Events the database publishes itself.** A trigger may ``pg_notify`` on a
channel of its own (notifications do); :meth:`EventBus.bridge` turns each of
its payloads into bus events. A process listens for those on PostgreSQL whatever the
fan-out backend (while it has subscribers, below).

**Listening only for someone.** A process LISTENs on PostgreSQL only while its hub has
subscribers (:meth:`EventBus.subscribe` returns once the LISTEN is in effect, so what
commits afterwards reaches them), and stops :data:`LISTEN_LINGER_SECONDS` after the last
one left. Each notification costs every listening process a wake-up of its backend, a
message and a callback; a process without sockets, which has nobody to hand an event to,
no longer pays that on every like and comment written through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import orjson

from focushub.core import observability

log = logging.getLogger("focushub.events")

FANOUT_CHANNEL = "focushub_realtime"
REDIS_CHANNEL = "focushub:realtime"
# NOTIFY refuses payloads of 8,000 bytes or more; leave room for the envelope.
MAX_INLINE_BYTES = 7000
# How long the hub keeps a sequenced event that arrived ahead of an earlier one before
# handing it on anyway (the subscribers then load the missing ones).
REORDER_HOLD_SECONDS = 0.25
# Events sent now on PostgreSQL go out together, at most this many per NOTIFY statement.
NOTIFY_BATCH = 500
# How long a process keeps listening after its last subscriber left (a reconnecting socket
# finds it still listening).
LISTEN_LINGER_SECONDS = 30.0


def pack(bodies: Iterable[bytes], limit: int = MAX_INLINE_BYTES) -> list[str]:
    """Bus messages as NOTIFY payloads, in order, in as few as fit: a message alone is
    itself, several are one JSON array of at most ``limit`` bytes. (Each notification costs
    PostgreSQL a place in its queue and a protocol message to every listening process, and
    each process a callback: a group commit's dozens of events travel in a few.)"""
    payloads: list[str] = []
    run: list[bytes] = []
    size = 1  # "[" + each body and its "," or "]"
    for body in bodies:
        if run and size + len(body) + 1 > limit:
            payloads.append(_joined(run))
            run, size = [], 1
        run.append(body)
        size += len(body) + 1
    if run:
        payloads.append(_joined(run))
    return payloads


def _joined(run: list[bytes]) -> str:
    return (run[0] if len(run) == 1 else b"[" + b",".join(run) + b"]").decode()


def unpack(payload: str | bytes) -> list[dict[str, Any]]:
    """The bus messages of one payload (see :func:`pack`), in order."""
    decoded = orjson.loads(payload)
    return decoded if isinstance(decoded, list) else [decoded]


@dataclass(frozen=True, slots=True)
class Event:
    """One event for one channel.

    ``seq``: the event's position in the channel's stored stream (the hub orders by it);
    None for ephemeral events and for copies sent to other channels. ``stub``: the short
    form sent instead of ``data`` when ``data`` is too long for NOTIFY, for events the
    receiver can load; without one a too-long event is dropped.
    """

    channel: str
    data: dict[str, Any]
    seq: int | None = None
    stub: dict[str, Any] | None = None


class Executes(Protocol):
    """What a transaction offers to send statements inside it (``core.db.Tx``)."""

    async def execute(self, sql: str, **params: Any) -> None: ...


def user_channel(user_id: object) -> str:
    """A user's own channel: what concerns them wherever it happens (notifications, rooms
    they join or leave, answers they asked for)."""
    return f"user:{user_id}"


class Subscriber(Protocol):
    def offer(self, channel: str, event: dict[str, Any]) -> None:
        """Take an event without blocking (a full queue is the subscriber's problem)."""


class _ChannelOrder:
    """Per sequenced channel with local subscribers: the last ``seq`` handed on, and the
    events held back behind a gap."""

    __slots__ = ("held", "last", "timer")

    def __init__(self, last: int) -> None:
        self.last = last
        self.held: dict[int, dict[str, Any]] = {}
        self.timer: asyncio.TimerHandle | None = None


class Hub:
    """Local subscriptions of this process: channel -> subscribers.

    Sequenced events are handed to the subscribers in ``seq`` order once per process:
    an event that arrives before an earlier one of its channel (two processes
    publishing after their commits, racing on Redis) is held back until the earlier
    one arrives, for at most :data:`REORDER_HOLD_SECONDS`. Without this every
    subscriber would see a gap, load the missing event and drop the late copy.
    Events really lost still reach the subscribers' own gap detection, after the hold.
    """

    def __init__(self, *, hold_seconds: float = REORDER_HOLD_SECONDS) -> None:
        self._subs: dict[str, set[Subscriber]] = {}
        self._order: dict[str, _ChannelOrder] = {}
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
        """Record that the channel's events up to ``seq`` are stored (a subscriber read the
        current position), so that its first live event here is ordered too. Ignored once
        the hub has handed on a sequenced event of the channel."""
        if channel in self._subs and channel not in self._order:
            self._order[channel] = _ChannelOrder(seq)

    def dispatch(self, channel: str, event: dict[str, Any], seq: int | None = None) -> None:
        if seq is None or channel not in self._subs:
            self._offer(channel, event)
            return
        order = self._order.get(channel)
        if order is None:
            self._order[channel] = _ChannelOrder(seq)
            self._offer(channel, event)
        elif seq <= order.last:
            self._offer(channel, event)  # a repeat, or late after a hold: subscribers decide
        elif seq == order.last + 1:
            order.last = seq
            self._offer(channel, event)
            self._release(channel, order)
        else:
            order.held[seq] = event
            if order.timer is None:
                order.timer = asyncio.get_running_loop().call_later(
                    self.hold_seconds, self._give_up, channel)

    def _release(self, channel: str, order: _ChannelOrder) -> None:
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

    @property
    def empty(self) -> bool:
        return not self._subs


def plain_dsn(url: str) -> str:
    """A libpq-style URL (asyncpg and psycopg take it) from a SQLAlchemy one."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


# Turns the payload of a database channel into (channel, event) pairs for the hub.
Bridge = Callable[[str], Iterable[tuple[str, dict[str, Any]]]]


class EventBus:
    """One per process. Sending never raises: realtime is best effort on top of the
    database, which stays the source of truth (subscribers resume from it)."""

    def __init__(self, *, database_url: str | None, redis_url: str | None = None,
                 backend: str | None = None,
                 listen_linger: float = LISTEN_LINGER_SECONDS) -> None:
        self.hub = Hub()
        self.listen_linger = listen_linger
        self._listening = False  # LISTEN in effect on the current listen connection
        self._listen_lock = asyncio.Lock()
        self._unlisten_timer: asyncio.TimerHandle | None = None
        self._unlisten_task: asyncio.Task[None] | None = None
        self.database_url = plain_dsn(database_url) if database_url else None
        self.redis_url = redis_url
        self.backend = backend or ("redis" if redis_url else "postgres" if database_url else "local")
        self._bridges: dict[str, Bridge] = {}
        self._started = False
        self._listen_conn: asyncpg.Connection | None = None
        self._notify_conn: asyncpg.Connection | None = None
        # Events sent now (ephemeral) on PostgreSQL: waiting for the next NOTIFY statement,
        # and the future their senders wait on; one flusher sends them in order.
        self._batch: list[bytes] = []
        self._batch_sent: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.notify_statements = 0  # how many NOTIFY statements carried them (tests, metrics)
        self._redis: Any = None
        self._redis_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    @property
    def sends_in_transaction(self) -> bool:
        return self._started and self.backend == "postgres"

    # --- subscribing -------------------------------------------------------------------

    async def subscribe(self, channel: str, sub: Subscriber) -> None:
        """Add ``sub`` to the hub; return once this process listens, so that every event
        committed from now on reaches it (unless the database is away: then the
        subscriber's own gap detection recovers what it misses)."""
        self.hub.add(channel, sub)
        if self._unlisten_timer is not None:
            self._unlisten_timer.cancel()
            self._unlisten_timer = None
        if not self._listening:
            async with self._listen_lock:
                await self._listen()

    def unsubscribe(self, channel: str, sub: Subscriber) -> None:
        """Take ``sub`` off the hub; with no subscriber left, stop listening a little later."""
        self.hub.discard(channel, sub)
        if self.hub.empty and self._listening and self._unlisten_timer is None:
            self._unlisten_timer = asyncio.get_running_loop().call_later(
                self.listen_linger, self._start_unlisten)

    def _start_unlisten(self) -> None:
        self._unlisten_timer = None
        self._unlisten_task = asyncio.get_running_loop().create_task(self._unlisten_if_idle())

    async def _listen(self) -> None:
        conn = self._listen_conn
        if self._listening or conn is None or conn.is_closed():
            return
        try:
            for db_channel in self._bridges:
                await conn.add_listener(db_channel, self._on_pg_bridge)
            if self.backend == "postgres":
                await conn.add_listener(FANOUT_CHANNEL, self._on_pg_fanout)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("events: LISTEN failed; the reconnect will listen again")
            return
        self._listening = True

    async def _unlisten_if_idle(self) -> None:
        async with self._listen_lock:
            conn = self._listen_conn
            if not self.hub.empty or not self._listening or conn is None or conn.is_closed():
                return
            self._listening = False
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                for db_channel in self._bridges:
                    await conn.remove_listener(db_channel, self._on_pg_bridge)
                if self.backend == "postgres":
                    await conn.remove_listener(FANOUT_CHANNEL, self._on_pg_fanout)

    @property
    def listening(self) -> bool:
        return self._listening

    def bridge(self, db_channel: str, translate: Bridge) -> None:
        """Relay what the database sends on ``db_channel`` (from a trigger) to the hub.
        Call before :meth:`start`."""
        self._bridges[db_channel] = translate

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
        log.info("event bus started (fan-out: %s)", self.backend)

    async def stop(self) -> None:
        self._started = False
        if self._unlisten_timer is not None:
            self._unlisten_timer.cancel()
            self._unlisten_timer = None
        for task in (self._redis_task, self._watch_task, self._flusher, self._unlisten_task):
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
        self._listening = False
        settings = {"application_name": "focushub-events"}
        listen = await asyncpg.connect(self.database_url, server_settings=settings)
        if self.backend == "postgres":
            self._notify_conn = await asyncpg.connect(self.database_url, server_settings=settings)
        self._listen_conn = listen
        if not self.hub.empty:
            async with self._listen_lock:
                await self._listen()

    async def _watch_postgres(self) -> None:
        """Reconnect the LISTEN connection when it drops. Sequenced events missed meanwhile
        are recovered by the subscribers' gap detection."""
        while True:
            await asyncio.sleep(2)
            healthy = [c for c in (self._listen_conn, self._notify_conn) if c is not None
                       and not c.is_closed()]
            if self._listen_conn is not None and len(healthy) == (
                    2 if self.backend == "postgres" else 1):
                continue
            try:
                await self._connect_postgres()
                log.warning("events: reconnected to PostgreSQL")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                # InterfaceError: the database went away again during the reconnect.
                log.warning("events: PostgreSQL unreachable, retrying")

    # --- receiving ---------------------------------------------------------------------

    def _deliver(self, raw: str | bytes) -> None:
        try:
            for message in unpack(raw):
                self.hub.dispatch(message["ch"], message["ev"], message.get("seq"))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("events: dropped a malformed bus message")

    def _on_pg_fanout(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._deliver(payload)

    def _on_pg_bridge(self, _conn: Any, _pid: int, db_channel: str, payload: str) -> None:
        translate = self._bridges.get(db_channel)
        if translate is None:
            return
        try:
            pairs = list(translate(payload))
        except Exception:
            log.warning("events: dropped a malformed %s payload", db_channel, exc_info=True)
            return
        for channel, event in pairs:
            self.hub.dispatch(channel, event)

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
                log.warning("events: Redis subscription failed, retrying", exc_info=True)
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(REDIS_CHANNEL)

    # --- sending -----------------------------------------------------------------------

    def _body(self, event: Event) -> bytes | None:
        """The bus message for ``event``; None when it cannot travel (an ephemeral event
        too long for NOTIFY). On PostgreSQL a long sequenced event becomes its stub."""
        envelope: dict[str, Any] = {"ch": event.channel, "ev": event.data}
        if event.seq is not None:
            envelope["seq"] = event.seq
        body = orjson.dumps(envelope)
        if len(body) > MAX_INLINE_BYTES and self.backend == "postgres":
            if event.stub is None:
                return None
            body = orjson.dumps({**envelope, "ev": event.stub})
        return body

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        """Send an ephemeral event now, to every process (this one included). For what a
        transaction changed use :meth:`focushub.core.db.Tx.publish` instead."""
        await self._send(Event(channel, data))

    async def _send(self, event: Event) -> None:
        body = self._body(event)
        if body is None:
            return
        try:
            if not self._started or self.backend == "local":
                self._deliver(body)
            elif self.backend == "redis":
                await self._redis.publish(REDIS_CHANNEL, body)
            else:
                await self._notify(body)
        except Exception:
            log.warning("events: publish to %s failed", event.channel, exc_info=True)

    async def _notify(self, body: bytes) -> None:
        """NOTIFY ``body`` with whatever else is waiting, in one statement; return once sent.

        One statement per event through the one connection serialized every sender behind
        every other: a class coming online together (each socket answering each newcomer's
        presence) queued tens of thousands of round trips and held the sockets' writers,
        and the replies behind them, for seconds. Batched, a burst costs a few statements.
        """
        if self._batch_sent is None:
            self._batch_sent = asyncio.get_running_loop().create_future()
        self._batch.append(body)
        sent = self._batch_sent
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(sent)

    async def _flush(self) -> None:
        while self._batch:
            bodies, sent = self._batch, self._batch_sent
            self._batch, self._batch_sent = [], None
            assert sent is not None
            try:
                assert self._notify_conn is not None
                payloads = pack(bodies)
                for start in range(0, len(payloads), NOTIFY_BATCH):
                    self.notify_statements += 1
                    await self._notify_conn.execute(
                        "SELECT pg_notify($1, b.body)"
                        " FROM unnest($2::text[]) WITH ORDINALITY AS b(body, ord) ORDER BY b.ord",
                        FANOUT_CHANNEL, payloads[start:start + NOTIFY_BATCH])
            except asyncio.CancelledError:  # the bus is stopping: its senders stop too
                sent.cancel()
                raise
            except Exception as exc:
                sent.set_exception(exc)
                sent.exception()  # marked retrieved: each sender logs it
            else:
                sent.set_result(None)

    async def send_in_transaction(self, tx: Executes, events: list[Event]) -> None:
        """On PostgreSQL: NOTIFY ``events`` inside ``tx`` (delivered at its commit, in
        order). Call last in the transaction. Other backends: nothing (see
        :meth:`send_committed`)."""
        if not events or not self.sends_in_transaction:
            return
        bodies = [b for b in map(self._body, events) if b is not None]
        if not bodies:
            return
        observability.EVENTS_SENT.labels("notify").inc(len(bodies))
        # A volatile function in the select list is evaluated after the sort: in order.
        await tx.execute(
            "SELECT pg_notify(:channel, b.body)"
            " FROM unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS b(body, ord) ORDER BY b.ord",
            channel=FANOUT_CHANNEL, bodies=pack(bodies),
        )

    async def send_committed(self, events: list[Event]) -> None:
        """After the commit: send what :meth:`send_in_transaction` did not."""
        if self.sends_in_transaction:
            return
        observability.EVENTS_SENT.labels(self.backend).inc(len(events))
        if self._started and self.backend == "redis" and len(events) > 1:
            # A transaction's events (a group commit's can be hundreds) in one round trip,
            # in order, sharing messages as on PostgreSQL.
            bodies = [b for b in map(self._body, events) if b is not None]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for payload in pack(bodies):
                        pipe.publish(REDIS_CHANNEL, payload)
                    await pipe.execute()
            except Exception:
                log.warning("events: publishing %d events to Redis failed", len(bodies),
                            exc_info=True)
            return
        for event in events:
            await self._send(event)
