"""Write limits by account standing, shared by every process (``rt.limiter``).

Every kind of write a spammer repeats (posts, comments, questions, answers, chat
messages, rooms, follows, uploads, requests for AI answers, reports) has two rates,
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

Every write checks first, chat messages included, so the checks are group-committed
(``core/batching.py``): those waiting at the same moment read their senders' standing in
one statement and count their hits in one exchange with the limiter's store, in the same
transaction when the store is PostgreSQL. A batch costs about what one check costs: one
transaction, where each write used to pay two (docs/performance.md). Chat messages, already
group-committed, are checked inside their own batch's transaction instead
(:func:`refusals_within`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from focushub.core.db import SERVICE, Caller, DirectTx, Tx
from focushub.core.errors import AppError, NotFound, TooManyRequests, ValidationFailed
from focushub.core.ratelimit import Rate
from focushub.core.runtime import Runtime

WriteKind = Literal["post", "comment", "question", "answer", "message", "room", "follow",
                    "upload", "ai_answer", "report"]
# The kinds of text whose mentions notify people (0007's triggers).
MentionKind = Literal["post", "comment", "question", "answer"]
Standing = Literal["admin", "new", "established"]

_WORDS = {
    "post": "posts", "comment": "comments", "question": "questions", "answer": "answers",
    "message": "messages", "room": "new chats", "follow": "follows", "upload": "uploads",
    "ai_answer": "requests for AI answers", "report": "reports",
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


# The standing of several accounts, read as service_role by the ids the server verified
# (each request's own transaction then runs as its caller). A deleted account has no row.
_STANDINGS = """
SELECT u.id, u.role::text AS role, coalesce(u.is_verified, false) AS verified, u.created_at
FROM public.users u
WHERE u.id = ANY(CAST(:ids AS uuid[]))
"""

# How many checks one batch takes at most (core/batching.py).
CHECK_BATCH = 200


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


Decision = tuple[Standing, Rate | None, int] | BaseException
Hits = list[tuple[str, Rate]]


async def _plan(rt: Runtime, tx: Tx, items: list[tuple[UUID, WriteKind]]
                ) -> tuple[list[Decision], Hits, list[int]]:
    """Read the items' standings (one statement in ``tx``, as service_role): each item's
    decision so far (its wait still 0, or its error, or an administrator's pass), the hits
    to count, and which decision each hit completes."""
    rows = await tx.all(_STANDINGS, ids=sorted({str(uid) for uid, _ in items}))
    found = {str(row["id"]): row for row in rows}
    decisions: list[Decision] = []
    hits: Hits = []
    hit_of: list[int] = []
    for uid, kind in items:
        me = found.get(str(uid))
        if me is None:
            decisions.append(NotFound("This account no longer exists", code="user_not_found"))
            continue
        standing = _standing(rt, me)
        if standing == "admin":
            decisions.append(("admin", None, 0))
            continue
        rate = _rate(rt, kind, standing == "new")
        hit_of.append(len(decisions))
        decisions.append((standing, rate, 0))
        hits.append((f"write:{kind}:{uid}", rate))
    return decisions, hits, hit_of


def _fill(decisions: list[Decision], hit_of: list[int], waits: list[int]) -> list[Decision]:
    for at, wait in zip(hit_of, waits, strict=True):
        standing, rate, _ = decisions[at]  # type: ignore[misc]
        decisions[at] = (standing, rate, wait)
    return decisions


async def _check_batch(rt: Runtime, items: list[tuple[UUID, WriteKind]]) -> list[Decision]:
    """:func:`check_write`'s group commit: the standings and, in PostgreSQL, the hits in one
    transaction; Redis is asked after its commit, holding no connection while it answers."""
    waits: list[int] | None = None
    async with rt.direct_transaction(SERVICE) as tx:
        decisions, hits, hit_of = await _plan(rt, tx, items)
        if rt.limiter.in_database:
            waits = await rt.limiter.wait_many(hits, within=tx)
    if waits is None:
        waits = await rt.limiter.wait_many(hits)
    return _fill(decisions, hit_of, waits)


async def refusals_within(rt: Runtime, tx: DirectTx, kind: WriteKind,
                          senders: list[UUID]) -> list[AppError | None]:
    """:func:`check_write` for writes of ``kind`` made together in ``tx`` (a group commit's
    transaction, as service_role): for each sender in turn, None when admitted, else the
    refusal to answer (429, or 404 for an account that is gone). Chat messages are checked
    this way, so that a message pays no transaction of its own for its check."""
    if not rt.settings.write_limits_enabled:
        return [None] * len(senders)
    decisions, hits, hit_of = await _plan(rt, tx, [(uid, kind) for uid in senders])
    # In the transaction when the limiter is in the database; Redis is asked while it is
    # open (no database connection is waited for meanwhile).
    waits = await rt.limiter.wait_many(hits, within=tx if rt.limiter.in_database else None)
    out: list[AppError | None] = []
    for decision in _fill(decisions, hit_of, waits):
        if isinstance(decision, AppError):
            out.append(decision)
            continue
        standing, rate, wait = decision  # type: ignore[misc]
        out.append(_too_many(kind, standing, rate, wait)
                   if wait > 0 and rate is not None else None)
    return out


def _too_many(kind: WriteKind, standing: Standing, rate: Rate, wait: int) -> TooManyRequests:
    new = standing == "new"
    who = "New accounts" if new else "Accounts"
    return TooManyRequests(
        f"{who} may send {rate.limit} {_WORDS[kind]}{_per(rate)}; try again in {_wait(wait)}."
        + (" Confirming your email and time on Focus Hub raise the limit." if new else ""),
        code="write_rate_limited",
        details={"retry_after_seconds": max(1, math.ceil(wait / 1000)), "kind": kind,
                 "standing": "new" if new else "established"})


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
    if text is not None and "@" in text:
        async with rt.direct_transaction(caller) as tx:
            me = await _me(tx, text)
        _refuse_mentions(rt, me, _standing(rt, me), kind)
    checks = rt.group_commit("write.limits", lambda items: _check_batch(rt, items), lanes=1,
                             max_items=CHECK_BATCH)
    standing, rate, wait = await checks.submit("", (caller.user_id, kind))
    if wait > 0 and rate is not None:
        raise _too_many(kind, standing, rate, wait)
