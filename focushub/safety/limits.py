"""Write limits by account standing, shared by every process (``rt.limiter``).

Every kind of write a spammer repeats (posts, comments, questions, answers, chat
messages, rooms, follows, uploads, requests for AI answers) has two rates,
``FOCUSHUB_WRITE_RATE_<KIND>`` for established accounts and
``FOCUSHUB_WRITE_RATE_NEW_<KIND>`` for new ones: younger than
``FOCUSHUB_NEW_ACCOUNT_DAYS`` or with an unconfirmed email. A refusal is 429 with
``Retry-After`` and a sentence a person understands.

A text that notifies people (a post, comment, question or answer mentioning
``@username``) may mention at most ``FOCUSHUB_MENTIONS_PER_POST`` people, or
``FOCUSHUB_MENTIONS_PER_POST_NEW`` for a new account. More is refused whole (422
``too_many_mentions``, saying the limit) rather than notifying only the first few: the
author learns at once, nothing is half-delivered, and a spammer gains nothing by
writing more names. Only mentions of existing, active accounts other than the author
count, so an ``@decorator`` in a code sample costs nothing.

Administrators are not limited; ``FOCUSHUB_WRITE_LIMITS_ENABLED=false`` turns every
limit here off (a closed classroom instance, a benchmark).

Call :func:`check_write` before opening the write's own transaction: the limiter may
need a database connection of its own, and a request must never hold one connection
while it waits for another. :func:`check_mentions` is for edits, inside theirs.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from focushub.core.db import Caller, Tx
from focushub.core.errors import NotFound, TooManyRequests, ValidationFailed
from focushub.core.ratelimit import Rate
from focushub.core.runtime import Runtime

WriteKind = Literal["post", "comment", "question", "answer", "message", "room", "follow",
                    "upload", "ai_answer"]
# The kinds of text whose mentions notify people (0007's triggers).
MentionKind = Literal["post", "comment", "question", "answer"]
Standing = Literal["admin", "new", "established"]

_WORDS = {
    "post": "posts", "comment": "comments", "question": "questions", "answer": "answers",
    "message": "messages", "room": "new chats", "follow": "follows", "upload": "uploads",
    "ai_answer": "requests for AI answers",
}

# The pattern of public.mentioned_usernames() (0007), which decides who is notified;
# tests/api/test_write_limits.py checks that the two stay the same.
MENTION_PATTERN = "(?:^|[^[:alnum:]_@])@([[:alnum:]_]{3,50})(?![[:alnum:]_@])"

# The caller's standing and, for a text, how many people it mentions: existing, active
# accounts other than the author. All of them are counted, although the database notifies
# at most 20 names per text.
_STANDING = """
SELECT a.role::text AS role, coalesce(a.is_verified, false) AS verified, a.created_at,
       (SELECT count(DISTINCT u.id)
        FROM regexp_matches(coalesce(CAST(:text AS text), ''), CAST(:pattern AS text), 'g') AS m
        JOIN public.users u ON u.username = lower(m[1])
        WHERE u.is_active AND u.id <> a.id) AS mentioned
FROM public.current_user_account() a
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


def _standing(rt: Runtime, me: Any) -> Standing:
    if me["role"] == "admin":
        return "admin"
    young = me["created_at"] > datetime.now(UTC) - timedelta(days=rt.settings.new_account_days)
    return "new" if young or not me["verified"] else "established"


async def _me(tx: Tx, text: str | None) -> Any:
    me = await tx.one_or_none(_STANDING, text=text, pattern=MENTION_PATTERN)
    if me is None:
        raise NotFound("This account no longer exists", code="user_not_found")
    return me


def _refuse_mentions(rt: Runtime, me: Any, standing: Standing, kind: str) -> None:
    if standing == "admin":
        return
    new = standing == "new"
    limit = rt.settings.mentions_per_post_new if new else rt.settings.mentions_per_post
    if me["mentioned"] <= limit:
        return
    who = "New accounts" if new else "Accounts"
    article = "an" if kind == "answer" else "a"
    raise ValidationFailed(
        f"{who} may mention at most {limit} {'person' if limit == 1 else 'people'} in {article}"
        f" {kind}; this one mentions {me['mentioned']}. Remove some mentions and send it again."
        + (" Confirming your email and time on Focus Hub raise the limit." if new else ""),
        code="too_many_mentions",
        details={"limit": limit, "mentioned": me["mentioned"], "kind": kind, "standing": standing})


async def check_mentions(rt: Runtime, tx: Tx, kind: MentionKind, text: str | None) -> None:
    """422 ``too_many_mentions`` when ``text`` (a ``kind`` being edited, in ``tx``, the
    caller's transaction) mentions more people than the caller's standing allows."""
    if not rt.settings.write_limits_enabled or not text or "@" not in text:
        return
    me = await _me(tx, text)
    _refuse_mentions(rt, me, _standing(rt, me), kind)


async def check_write(rt: Runtime, caller: Caller, kind: WriteKind, *,
                      text: str | None = None) -> None:
    """Count one write of ``kind`` by ``caller``; 429 when over their standing's rate.
    With ``text`` (what a post, comment, question or answer says), first 422 when it
    mentions too many people; a refused text is not counted against the rate.
    Precondition: no transaction of this request is open (see the module docstring)."""
    if not rt.settings.write_limits_enabled:
        return
    if text is not None and "@" not in text:
        text = None  # nobody is mentioned: nothing to count
    async with rt.direct_transaction(caller) as tx:  # before every write: a hot path
        me = await _me(tx, text)
    standing = _standing(rt, me)
    if text is not None:
        _refuse_mentions(rt, me, standing, kind)
    if standing == "admin":
        return
    new = standing == "new"
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
