"""Write limits by account standing, shared by every process (``rt.limiter``).

Every kind of write a spammer repeats (posts, comments, questions, answers, chat
messages, rooms, follows, uploads) has two rates, ``FOCUSHUB_WRITE_RATE_<KIND>`` for
established accounts and ``FOCUSHUB_WRITE_RATE_NEW_<KIND>`` for new ones: younger than
``FOCUSHUB_NEW_ACCOUNT_DAYS`` or with an unconfirmed email. Administrators are not
limited; ``FOCUSHUB_WRITE_LIMITS_ENABLED=false`` turns them all off (a closed
classroom instance, a benchmark). A refusal is 429 with ``Retry-After`` and a sentence a person understands.

Call :func:`check_write` before opening the write's own transaction: the limiter may
need a database connection of its own, and a request must never hold one connection
while it waits for another.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

from focushub.core.db import Caller
from focushub.core.errors import NotFound, TooManyRequests
from focushub.core.ratelimit import Rate
from focushub.core.runtime import Runtime

WriteKind = Literal["post", "comment", "question", "answer", "message", "room", "follow", "upload"]

_WORDS = {
    "post": "posts", "comment": "comments", "question": "questions", "answer": "answers",
    "message": "messages", "room": "new chats", "follow": "follows", "upload": "uploads",
}

_STANDING = """
SELECT role::text AS role, coalesce(is_verified, false) AS verified, created_at
FROM public.current_user_account()
"""


def _rate(rt: Runtime, kind: WriteKind, new: bool) -> Rate:
    return getattr(rt.settings, f"write_rate_new_{kind}" if new else f"write_rate_{kind}")


def _per(rate: Rate) -> str:
    """" an hour", " a minute", " per 6 hours"…"""
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if rate.seconds >= unit:
            count = rate.seconds / unit
            if count == 1:
                return " an hour" if name == "hour" else f" a {name}"
            return f" per {count:g} {name}s"
    return f" per {rate.seconds:g} seconds"


def _wait(ms: int) -> str:
    seconds = max(1, math.ceil(ms / 1000))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


async def check_write(rt: Runtime, caller: Caller, kind: WriteKind) -> None:
    """Count one write of ``kind`` by ``caller``; 429 when over their standing's rate.
    Precondition: no transaction of this request is open (see the module docstring)."""
    if not rt.settings.write_limits_enabled:
        return
    async with rt.transaction(caller) as tx:
        me = await tx.one_or_none(_STANDING)
    if me is None:
        raise NotFound("This account no longer exists", code="user_not_found")
    if me["role"] == "admin":
        return
    young = me["created_at"] > datetime.now(UTC) - timedelta(days=rt.settings.new_account_days)
    new = young or not me["verified"]
    rate = _rate(rt, kind, new)
    wait = await rt.limiter.wait_ms(f"write:{kind}:{caller.user_id}", rate)
    if wait > 0:
        who = "New accounts" if new else "Accounts"
        raise TooManyRequests(
            f"{who} may send {rate.limit} {_WORDS[kind]}{_per(rate)}; try again in {_wait(wait)}."
            + (" Confirming your email and time on Focus Hub raise the limit." if new else ""),
            code="write_rate_limited",
            details={"retry_after_seconds": max(1, math.ceil(wait / 1000)), "kind": kind,
                     "standing": "new" if new else "established"})
