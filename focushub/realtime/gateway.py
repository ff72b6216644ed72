"""One WebSocket connection of the realtime gateway (``/api/v1/realtime``).

Protocol (JSON text frames; docs/architecture.md has the full table):

client -> server
    ``{"type": "auth", "access_token": "..."}``        first frame, unless ``?access_token=``
    ``{"type": "subscribe", "room_id": "...", "last_seq": 12}``  ``last_seq`` optional
    ``{"type": "unsubscribe", "room_id": "..."}``
    ``{"type": "typing", "room_id": "..."}``
    ``{"type": "message.send", "room_id": "...", "content": "...", "message_type": "text",
      "file_id": null, "idempotency_key": "...", "request_id": "..."}``
    ``{"type": "ping"}``

server -> client
    ``ready``, ``subscribed``, ``unsubscribed``, ``message.sent``, ``pong``, ``error``;
    room events ``{"type", "room_id", "seq", "data", "created_at"}`` with ``type`` one of
    ``message.created|updated|deleted``, ``room.updated``, ``participant.added|removed|updated``,
    ``read.updated``; ``resync`` (``from_seq``, ``to_seq``: those events were pruned,
    reload the room's messages over REST); ephemeral ``typing`` and ``presence`` (no ``seq``; ``presence`` is
    ``{"status": "online", "connection_id"}`` when someone subscribes to a room, answered by
    the others already there with ``"echo": true``, and
    ``{"status": "offline", "connection_id", "last_seen_at"}`` when their socket closes or
    stops following the room (unsubscribed, removed).
    A user may have several connections (tabs, devices, possibly on different server
    processes): a client shows a user online while any of their connection ids is online);
    ``notification.created``, ``notification.updated`` and ``invitation.created``
    (``{"room_id", "data": {"room_id",
    "user_id"}}``: invited to a group room; list ``/api/v1/chat/invitations``) on the user's
    own channel.

Gap-free delivery: per subscribed room the connection remembers the last ``seq``
it delivered. Subscribing registers the socket on the room channel *first* and
queues a catch-up; the writer then checks membership and replays from the
database what follows ``last_seq`` while live events wait in the queue behind
it. Live events at or below the delivered ``seq`` are dropped, and a live event
that skips numbers (or arrived as a stub) makes the writer load the missing
ones from the database. Every database read runs as the connection's user,
under RLS, so a participant who was removed stops receiving.

A socket's session is checked before it is told ``ready`` (by the transaction that reads
its block wall, ``safety.service.wall``), again (``auth.service.session_active``) as soon as the database says it may have ended (a ``session.check``
event on the user's channel, 0050: logout, an administrator ending it or deactivating,
suspending or deleting the account, a password change), and otherwise before it is given a
room event or sends a typing signal at most every :data:`SESSION_RECHECK_SECONDS`; once
the session ended the socket is closed with 4001 instead of hearing the rooms until its
token expires.

Close codes: 4001 not authenticated (missing, invalid or expired token, or ended session),
4008 the client is too slow (its queue overflowed; reconnect and resume with the
last ``seq`` of each room), 4029 the account holds :data:`MAX_SOCKETS_PER_USER` sockets in
this server process already, 1013 the database stayed unavailable while stored events were
to be read (reconnect and resume a little later), 1011 server error. A ``subscribe`` beyond
the connection's budget (:data:`SUBSCRIBE_BURST`, then :data:`SUBSCRIBE_PER_SECOND`) is
answered ``rate_limited`` with ``retry_after_seconds``; the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from focushub.auth import events as session_events
from focushub.auth import service as auth_service
from focushub.chat import events as chat_events
from focushub.chat import service as chat_service
from focushub.chat.schemas import MAX_MESSAGE_LENGTH, MessageCreate
from focushub.core import observability
from focushub.core.db import Caller
from focushub.core.deps import caller_from_token
from focushub.core.errors import AppError, as_app_error
from focushub.core.events import user_channel
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings
from focushub.notifications import events as notification_events
from focushub.notifications import service as notifications_service
from focushub.safety import events as safety_events
from focushub.safety import service as safety_service

log = logging.getLogger("focushub.realtime")

CLOSE_UNAUTHORIZED = 4001
CLOSE_SLOW_CONSUMER = 4008
CLOSE_SERVER_ERROR = 1011
CLOSE_TRY_AGAIN = 1013  # the database is away: reconnect and resume a little later
CLOSE_TOO_MANY = 4029  # the account holds MAX_SOCKETS_PER_USER sockets here already
# A room event whose stored events cannot be read (the database away: a restart, a lost
# connection) is tried again this many times, after 1, 2, 3 … times this delay, before the
# socket is asked to reconnect and resume.
DB_RETRIES = 3
DB_RETRY_DELAY = 1.0

# Events (and replies) waiting for one socket; past this the socket is closed with 4008.
QUEUE_SIZE = 512
# A frame longer than this is refused with an error event. A message is at most
# MAX_MESSAGE_LENGTH characters, but JSON may write each in up to 6 (a control character as
# \u0001; a quote or a line break in 2): a message REST accepts fits, escaped however its
# client escapes it, with room for the rest of the frame.
MAX_FRAME_CHARS = 6 * MAX_MESSAGE_LENGTH + 4_000
# A frame larger than this (UTF-8 takes at most 4 bytes a character) is not even read: the
# server closes the socket with 1009 (message too big). The WebSocket server's own limit
# was 16 MiB, held in memory before the first frame, the unauthenticated "auth" one too.
MAX_FRAME_BYTES = 4 * MAX_FRAME_CHARS
AUTH_TIMEOUT_SECONDS = 10.0
# How long a socket's session is taken to hold after it was last checked. The database says
# when a session may have ended (0050, auth/events.py): the user's sockets check at once. This
# is the backstop for a notice missed while the bus reconnected: such an end is noticed at
# the first room event or typing signal after it (one statement per socket that hears
# something, at most this often; an idle socket costs nothing).
SESSION_RECHECK_SECONDS = 300.0
REPLAY_PAGE = 500
# A connection's typing signals reach a room at most this often; those in between are dropped
# without a word (the page's script sends one every 2 s while someone types). Each one is a
# NOTIFY and a frame to every other socket in the room: unthrottled, one socket sending them
# in a loop made thousands a second, for every member of a class-sized room to receive.
TYPING_INTERVAL_SECONDS = 1.0
# Subscriptions a connection may make: a burst of SUBSCRIBE_BURST (a client subscribing to
# all its rooms on connecting), then SUBSCRIBE_PER_SECOND. Each one reads the room's missed
# events and announces the connection to the room, whose every socket answers it: one socket
# subscribing and leaving in a loop set every member's socket answering.
SUBSCRIBE_BURST = 200
SUBSCRIBE_PER_SECOND = 2.0
# Sockets one account may hold open in one server process (tabs, devices); the next is
# closed with CLOSE_TOO_MANY at once.
MAX_SOCKETS_PER_USER = 20


@dataclass(slots=True)
class RoomState:
    delivered: int | None = None  # None until the catch-up has run
    # Whether the room's ephemeral events (typing, presence) reach this connection: from
    # its own "online" on, which comes back to it through the bus after everything
    # published before it subscribed.
    live: bool = False
    # time.monotonic() of the last typing signal this connection sent to the room
    typing_at: float = float("-inf")


class ClientError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def _room_id(frame: dict[str, Any]) -> str:
    try:
        return str(UUID(str(frame.get("room_id"))))
    except ValueError:
        raise ClientError("invalid_room_id", "room_id must be a UUID") from None


class Connection:
    """A signed-in socket: its subscriptions, its bounded outbox and the task writing it.

    The writer task exists only while the outbox holds something: most sockets are idle
    most of the time, and an idle socket then costs no task, no coroutine frame and no
    queue (tens of thousands of them are held at once): the outbox exists only while it
    holds something too, and the object has slots, not a dict."""

    __slots__ = ("ws", "rt", "bus", "caller", "user_id", "connection_id", "expires_at", "rooms",
                 "left", "outbox", "outbox_limit", "_writer", "closing", "_close_task",
                 "session_checked_at", "subscribe_budget", "subscribe_budget_at", "wall")

    def __init__(self, ws: WebSocket, rt: Runtime, caller: Caller, expires_at: float | None) -> None:
        self.ws = ws
        self.rt = rt
        self.bus = rt.bus
        self.caller = caller
        self.user_id = str(caller.user_id)
        # Presence is per connection: one user's tabs come and go independently.
        self.connection_id = uuid4().hex
        self.expires_at = expires_at
        self.rooms: dict[str, RoomState] = {}
        # Rooms this socket stopped following -> last seq delivered there, so the copy of an
        # event that also travels on the user channel is not delivered twice.
        self.left: dict[str, int] = {}
        self.outbox: deque[tuple[Any, ...]] | None = None  # while it holds something
        self.outbox_limit = QUEUE_SIZE
        self._writer: asyncio.Task[None] | None = None
        self.closing = False
        self._close_task: asyncio.Task[None] | None = None  # held so it is not collected
        # time.monotonic() of the last session check (the catch-up's transactions check it too)
        self.session_checked_at = time.monotonic()
        self.subscribe_budget = float(SUBSCRIBE_BURST)
        self.subscribe_budget_at = self.session_checked_at
        # Everyone across a block from this user (safety/events.py): their typing and
        # presence never reach this socket. Read when the socket starts.
        self.wall: frozenset[str] = frozenset()

    # --- entry points --------------------------------------------------------------------

    def offer(self, channel: str, event: dict[str, Any]) -> None:
        """Called by the hub for every event on a channel of this socket. Never blocks."""
        if event.get("type") == session_events.SESSION_CHECK:
            session = event.get("session_id")
            if session is None or session == self.caller.claims.get("session_id"):
                self.session_checked_at = float("-inf")
                self._enqueue(("session_check",))
            return
        if event.get("type") == safety_events.WALL_CHECK:
            self._enqueue(("wall_check",))  # never passed on: a block is private
            return
        self._enqueue(("event", channel, event))

    def _enqueue(self, item: tuple[Any, ...]) -> None:
        if self.closing:
            return
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = deque()
        if len(outbox) >= self.outbox_limit:
            self._close_soon(CLOSE_SLOW_CONSUMER, "too slow: reconnect and resume")
            return
        outbox.append(item)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def _close_soon(self, code: int, reason: str) -> None:
        self.closing = True
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close(code, reason))

    def reply(self, frame: dict[str, Any]) -> None:
        self._enqueue(("send", frame))

    async def run(self) -> None:
        observability.WEBSOCKETS.inc()
        try:
            await self._run()
        finally:
            observability.WEBSOCKETS.dec()

    async def _run(self) -> None:
        # In effect before "ready": what concerns the user from now on reaches this socket.
        await self.bus.subscribe(user_channel(self.user_id), self)
        expiry = None
        if self.expires_at is not None:
            expiry = asyncio.get_running_loop().call_later(
                max(0.0, self.expires_at - time.time()),
                self._close_soon, CLOSE_UNAUTHORIZED, "token expired",
            )
        # First in the outbox: the session is checked, then "ready" sent, before anything
        # the user channel brings.
        self._enqueue(("start",))
        try:
            await self._read_loop()
        finally:
            if expiry is not None:
                expiry.cancel()
            self.closing = True
            writer = self._writer
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            self.bus.unsubscribe(user_channel(self.user_id), self)
            active = [rid for rid, st in self.rooms.items() if st.delivered is not None]
            for rid in list(self.rooms):
                self.bus.unsubscribe(chat_events.room_channel(rid), self)
            self.rooms.clear()
            last_seen = datetime.now(UTC).isoformat()
            for rid in active:
                await self._publish_offline(rid, last_seen)

    async def _close(self, code: int, reason: str) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            if self.ws.application_state != WebSocketState.DISCONNECTED:
                await self.ws.close(code=code, reason=reason)

    # --- reading ---------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            try:
                message = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"].decode("utf-8", errors="replace")
            try:
                await self._handle(raw or "")
            except ClientError as exc:
                self.reply(_error(exc.code, exc.message, **exc.extra))

    async def _handle(self, raw: str) -> None:
        if len(raw) > MAX_FRAME_CHARS:
            raise ClientError("frame_too_large", f"frames are limited to {MAX_FRAME_CHARS} characters")
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ClientError("malformed_frame", "frames are JSON objects") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ClientError("malformed_frame", "frames are JSON objects with a string type")
        kind = frame["type"]
        if kind == "subscribe":
            self._subscribe(frame)
        elif kind == "unsubscribe":
            room_id = _room_id(frame)
            await self._drop_room(room_id)
            self.reply({"type": "unsubscribed", "room_id": room_id, "reason": "requested"})
        elif kind == "typing":
            await self._typing(frame)
        elif kind == "message.send":
            await self._send_message(frame)
        elif kind == "ping":
            self.reply({"type": "pong"})
        elif kind == "auth":
            raise ClientError("already_authenticated", "this connection is signed in")
        else:
            raise ClientError("unknown_type", f"unknown frame type {kind!r}")

    def _subscribe(self, frame: dict[str, Any]) -> None:
        room_id = _room_id(frame)
        last_seq = frame.get("last_seq")
        if last_seq is not None and (not isinstance(last_seq, int) or isinstance(last_seq, bool)
                                     or last_seq < 0):
            raise ClientError("invalid_last_seq", "last_seq must be a non-negative integer")
        if room_id in self.rooms:
            raise ClientError("already_subscribed", "already subscribed to this room", room_id=room_id)
        now = time.monotonic()
        self.subscribe_budget = min(float(SUBSCRIBE_BURST), self.subscribe_budget
                                    + (now - self.subscribe_budget_at) * SUBSCRIBE_PER_SECOND)
        self.subscribe_budget_at = now
        if self.subscribe_budget < 1:
            raise ClientError("rate_limited", "too many subscriptions; subscribe again shortly",
                              room_id=room_id,
                              retry_after_seconds=round(1 / SUBSCRIBE_PER_SECOND, 1))
        self.subscribe_budget -= 1
        # Registered before the catch-up is queued: live events that arrive meanwhile
        # wait in the queue behind it, and the writer drops those it replayed.
        self.rooms[room_id] = RoomState()
        self.left.pop(room_id, None)
        # The bus listens already: this connection holds its user channel.
        self.bus.hub.add(chat_events.room_channel(room_id), self)
        self._enqueue(("catch_up", room_id, last_seq))

    async def _drop_room(self, room_id: str) -> None:
        """Stop following a room (asked to, removed, no longer a participant). Once the room
        was followed, the others there hear this connection go offline, as when it closes:
        they would otherwise show it online for as long as they stay."""
        state = self.rooms.pop(room_id, None)
        self.bus.unsubscribe(chat_events.room_channel(room_id), self)
        if state is not None and state.delivered is not None:
            self.left[room_id] = state.delivered
            await self._publish_offline(room_id, datetime.now(UTC).isoformat())

    async def _publish_offline(self, room_id: str, last_seen: str) -> None:
        await self.bus.publish(chat_events.room_channel(room_id), {
            "type": "presence", "room_id": room_id, "user_id": self.user_id,
            "connection_id": self.connection_id, "status": "offline", "last_seen_at": last_seen,
        })

    def _active_room(self, frame: dict[str, Any]) -> str:
        room_id = _room_id(frame)
        state = self.rooms.get(room_id)
        if state is None or state.delivered is None:
            raise ClientError("not_subscribed", "subscribe to the room first", room_id=room_id)
        return room_id

    async def _session_holds(self) -> bool:
        """Whether the session still holds, checked again after SESSION_RECHECK_SECONDS; when
        it has ended the socket is closed with 4001."""
        now = time.monotonic()
        if now - self.session_checked_at < SESSION_RECHECK_SECONDS:
            return True
        if await auth_service.session_active(self.rt, self.caller):
            self.session_checked_at = now
            return True
        self._close_soon(CLOSE_UNAUTHORIZED, "session ended")
        return False

    async def _typing(self, frame: dict[str, Any]) -> None:
        room_id = self._active_room(frame)
        state = self.rooms[room_id]
        now = time.monotonic()
        if now - state.typing_at < TYPING_INTERVAL_SECONDS:
            return
        state.typing_at = now
        if not await self._session_holds():
            return
        await self.bus.publish(chat_events.room_channel(room_id), {
            "type": "typing", "room_id": room_id, "user_id": self.user_id,
        })

    async def _send_message(self, frame: dict[str, Any]) -> None:
        request_id = frame.get("request_id")
        try:
            room_id = UUID(str(frame.get("room_id")))
        except ValueError:
            raise ClientError("invalid_room_id", "room_id must be a UUID", request_id=request_id) from None
        fields = {k: v for k, v in frame.items() if k not in ("type", "room_id", "request_id")}
        try:
            data = MessageCreate.model_validate(fields)
        except ValidationError as exc:
            details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ClientError("validation_error", "The message is invalid", details=details,
                              request_id=request_id) from None
        try:
            message = await chat_service.send_message(self.rt, self.caller, room_id, data)
        except Exception as exc:
            err = as_app_error(exc)
            if err is None:
                log.exception("realtime: message.send failed")
                raise ClientError("internal_error", "Internal server error",
                                  request_id=request_id) from None
            # With its details, as over REST: when to try again (rate_limited,
            # server_stopping), the message a reused key was first sent as.
            extra = {"details": err.details} if err.details is not None else {}
            raise ClientError(err.code, err.message, request_id=request_id, **extra) from None
        self.reply({"type": "message.sent", "request_id": request_id,
                    "data": message.model_dump(mode="json")})

    # --- writing ---------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        failures = 0
        try:
            # Ends when the outbox is empty: _enqueue starts a new writer for the next item.
            while self.outbox:
                item = self.outbox.popleft()
                if self.closing:
                    return
                try:
                    if item[0] == "send":
                        await self._send(item[1])
                    elif item[0] == "start":
                        await self._start()
                    elif item[0] == "catch_up":
                        await self._catch_up(item[1], item[2])
                    elif item[0] == "session_check":
                        await self._session_holds()  # now: its last check was made stale
                    elif item[0] == "wall_check":
                        self.wall = await safety_service.wall(self.rt, self.caller)
                    elif await self._session_holds():
                        await self._on_event(item[1], item[2])
                except Exception as exc:
                    # An event whose stored events could not be read waits for the database
                    # and goes again, first in line: its fill resumes after what it already
                    # delivered, so nothing is sent twice. (A catch-up is not tried again: it
                    # may have said "subscribed" already; the socket resumes instead.)
                    if item[0] == "session_check" and _database_away(exc):
                        continue  # still stale: the next event checks again
                    if item[0] != "event" or not _database_away(exc) or failures >= DB_RETRIES:
                        raise
                    failures += 1
                    log.warning("realtime: the database is unavailable; delivering again in"
                                " %.1f s", DB_RETRY_DELAY * failures)
                    self.outbox.appendleft(item)
                    await asyncio.sleep(DB_RETRY_DELAY * failures)
                    continue
                failures = 0
        except asyncio.CancelledError:
            raise
        except WebSocketDisconnect:
            await self._close(CLOSE_SERVER_ERROR, "send failed")  # the client left: normal
        except (RuntimeError, OSError) as exc:
            log.warning("realtime: sending to a socket failed (%s: %s); closing it",
                        type(exc).__name__, exc)
            await self._close(CLOSE_SERVER_ERROR, "send failed")
        except Exception as exc:
            err = as_app_error(exc)
            if _database_away(exc):
                log.warning("realtime: the database is unavailable; the socket is to resume later")
                await self._close(CLOSE_TRY_AGAIN, "database unavailable: reconnect and resume")
            elif err is not None and err.code == "session_ended":
                await self._close(CLOSE_UNAUTHORIZED, "session ended")  # seen by a catch-up
            else:
                log.exception("realtime: writer failed")
                await self._close(CLOSE_SERVER_ERROR, "server error")
        finally:
            self._writer = None
            if not self.outbox:
                self.outbox = None

    async def _start(self) -> None:
        """Say "ready" if the session holds; otherwise close the socket with 4001. An access
        token outlives a session that ended before the socket opened (a logout, a password
        change), and no notice of that end will come (0050): unchecked, such a socket heard
        the user's notifications until the first check :data:`SESSION_RECHECK_SECONDS`
        later. The user channel is heard already, so an end from now on is noticed."""
        try:
            # Its transaction checks the session first (as every request's does).
            self.wall = await safety_service.wall(self.rt, self.caller)
        except AppError as exc:
            if exc.code != "session_ended":
                raise
            await self._send(_error("session_ended", "the session has ended"))
            await self._close(CLOSE_UNAUTHORIZED, "session ended")
            return
        self.session_checked_at = time.monotonic()
        await self._send({"type": "ready", "user_id": self.user_id})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def _catch_up(self, room_id: str, last_seq: int | None) -> None:
        state = self.rooms.get(room_id)
        if state is None:
            return  # unsubscribed meanwhile
        current = await chat_service.room_position(self.rt, self.caller, UUID(room_id))
        if current is None:
            await self._drop_room(room_id)
            await self._send(_error("not_a_member", "you are not a participant of this room",
                                    room_id=room_id))
            return
        self.bus.hub.note_stored(chat_events.room_channel(room_id), current)
        start = current if last_seq is None else min(last_seq, current)
        await self._send({"type": "subscribed", "room_id": room_id, "seq": current, "from_seq": start})
        state.delivered = start
        if start < current:
            await self._fill(room_id, state, current)
        await self.bus.publish(chat_events.room_channel(room_id), {
            "type": "presence", "room_id": room_id, "user_id": self.user_id,
            "connection_id": self.connection_id, "status": "online",
        })

    async def _fill(self, room_id: str, state: RoomState, upto: int) -> None:
        """Deliver the stored events after ``state.delivered`` up to ``upto``, as this user."""
        while state.delivered is not None and state.delivered < upto:
            stored, member = await chat_service.room_events_after(
                self.rt, self.caller, UUID(room_id), state.delivered, upto, REPLAY_PAGE)
            if stored and stored[0]["seq"] > state.delivered + 1:
                # The events in between were pruned (chat.prune_events): the client
                # reloads the room's messages over REST, then goes on from here.
                await self._send({"type": "resync", "room_id": room_id,
                                  "from_seq": state.delivered, "to_seq": stored[0]["seq"] - 1})
            for event in stored:
                await self._deliver_room_event(room_id, state, event)
                if room_id not in self.rooms:
                    return
            if not member:
                await self._drop_room(room_id)
                await self._send({"type": "unsubscribed", "room_id": room_id, "reason": "not_a_member"})
                return
            if not stored:
                return

    async def _deliver_room_event(self, room_id: str, state: RoomState, event: dict[str, Any]) -> None:
        await self._send(event)
        state.delivered = event["seq"]
        data = event.get("data") or {}
        if event["type"] == "participant.removed" and data.get("user_id") == self.user_id:
            await self._drop_room(room_id)
            await self._send({"type": "unsubscribed", "room_id": room_id, "reason": "removed"})

    async def _on_event(self, channel: str, event: dict[str, Any]) -> None:
        room_id = event.get("room_id")
        if "seq" in event and room_id is not None:
            state = self.rooms.get(room_id)
            if state is None or state.delivered is None:
                if channel.startswith("user:") and event["seq"] > self.left.get(room_id, 0):
                    await self._send(event)  # e.g. added to a room not subscribed to yet
                return
            seq = event["seq"]
            if seq <= state.delivered:
                return
            if seq > state.delivered + 1 or event.get("stub"):
                await self._fill(room_id, state, seq)
            else:
                await self._deliver_room_event(room_id, state, event)
            return
        if event.get("type") in notification_events.EVENT_TYPES and event.get("stub"):
            loaded = await self._load_notification(event["type"], event["id"])
            if loaded is not None:
                await self._send(loaded)
            return
        if room_id is not None and not channel.startswith("user:"):
            # Ephemeral room events (typing, presence) for subscribed rooms, from others,
            # published after this connection subscribed: one published before, but still on
            # its way (the bus delivers in order), would be answered with an echo to a
            # connection that had not been told of this one, and heard of it twice.
            state = self.rooms.get(room_id)
            if state is None or state.delivered is None:
                return
            if event.get("connection_id") == self.connection_id and event.get("type") == "presence":
                state.live = True
                return
            if not state.live or event.get("user_id") == self.user_id:
                return
        if "for_connection" in event:
            if event["for_connection"] != self.connection_id:
                return  # an echo for another tab of this user
            event = {k: v for k, v in event.items() if k != "for_connection"}
        if event.get("user_id") in self.wall and event.get("type") in ("typing", "presence"):
            return  # across a block: not heard, and not answered with our own presence
        await self._send(event)
        if event.get("type") == "presence" and event.get("status") == "online" \
                and not event.get("echo"):
            # Someone came online here: tell them we are too, so that presence needs no
            # shared registry across processes. The echo goes to the newcomer's connection
            # alone (on its user's channel): sent to the whole room, n arrivals would cost
            # every socket there n² frames and overflow its queue in a class-sized room.
            # Echoes are never answered.
            await self.bus.publish(user_channel(event["user_id"]), {
                "type": "presence", "room_id": room_id, "user_id": self.user_id,
                "connection_id": self.connection_id, "status": "online", "echo": True,
                "for_connection": event["connection_id"],
            })

    async def _load_notification(self, kind: str, notification_id: str) -> dict[str, Any] | None:
        loaded = await notifications_service.get_notification(
            self.rt, self.caller, UUID(notification_id))
        if loaded is None:
            return None
        return {"type": kind, "data": loaded.model_dump(mode="json")}


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's WebSocket options for the gateway: the implementation, compression and the
    largest frame read (:data:`MAX_FRAME_BYTES`)."""
    return {"ws": settings.ws_protocol, "ws_per_message_deflate": settings.ws_compression,
            "ws_max_size": MAX_FRAME_BYTES}


async def authenticate(ws: WebSocket, rt: Runtime) -> tuple[Caller, float | None] | None:
    """Accept the socket and authenticate it, or close it with 4001 and return None."""
    await ws.accept()
    token = ws.query_params.get("access_token") or _cookie_token(ws)
    if token is None:
        try:
            message = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_SECONDS)
        except (TimeoutError, WebSocketDisconnect, RuntimeError):
            await _close_unauthorized(ws, "auth_timeout", "send an auth frame first")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        try:
            frame = orjson.loads(message.get("text") or message.get("bytes") or b"")
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, dict) or frame.get("type") != "auth" \
                or not isinstance(frame.get("access_token"), str):
            await _close_unauthorized(ws, "not_authenticated",
                                      'the first frame must be {"type": "auth", "access_token": ...}')
            return None
        token = frame["access_token"]
    try:
        caller = caller_from_token(rt, token)
    except AppError as exc:
        await _close_unauthorized(ws, exc.code, exc.message)
        return None
    exp = caller.claims.get("exp")
    return caller, float(exp) if isinstance(exp, int | float) else None


# The web app's session cookie (focushub/web/session.py): its pages' scripts cannot read it.
SESSION_COOKIE = "fh_access"


def _cookie_token(ws: WebSocket) -> str | None:
    """The web session's access token, for a socket opened by our own pages: only when the
    handshake's Origin is this very site (another site's page must not ride the cookie)."""
    token = ws.cookies.get(SESSION_COOKIE)
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    if not token or not origin or not host:
        return None
    if origin.split("://", 1)[-1].rstrip("/") != host:
        return None
    return token


def _database_away(exc: Exception) -> bool:
    err = as_app_error(exc)
    return err is not None and err.status_code == 503


async def _close_unauthorized(ws: WebSocket, code: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_text(orjson.dumps(_error(code, message)).decode())
        await ws.close(code=CLOSE_UNAUTHORIZED, reason=code)
