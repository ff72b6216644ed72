"""Blocks and mutes. The rules are the database's (0025): what a block hides and refuses,
what a mute silences. These functions only record the caller's choices; blocking is
private, so nothing here tells the blocked person anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from focushub.content.schemas import UserSummary
from focushub.core.db import Caller, Tx
from focushub.core.errors import NotFound, ValidationFailed
from focushub.core.events import user_channel
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.safety.events import WALL_CHECK
from focushub.safety.schemas import BlockListParams, BlockRead

Relation = Literal["block", "mute"]

# (table, column naming the caller, column naming the other person)
_TABLES = {"block": ("user_blocks", "blocker_id", "blocked_id"),
           "mute": ("user_mutes", "muter_id", "muted_id")}


async def _require_user(tx: Tx, user_id: UUID) -> None:
    if not await tx.scalar("SELECT EXISTS (SELECT 1 FROM public.users WHERE id = :id)", id=user_id):
        raise NotFound("No such user", code="user_not_found")


async def add(rt: Runtime, caller: Caller, relation: Relation, user_id: UUID) -> None:
    """Block or mute ``user_id``; doing it twice changes nothing."""
    if user_id == caller.user_id:
        raise ValidationFailed(f"You cannot {relation} yourself", code=f"{relation}_self")
    table, me, other = _TABLES[relation]
    async with rt.transaction(caller) as tx:
        await _require_user(tx, user_id)
        await tx.execute(f"INSERT INTO public.{table} ({me}, {other}) VALUES (auth.uid(), :id)"
                         " ON CONFLICT DO NOTHING", id=user_id)
        if relation == "block":
            _tell_gateways(tx, caller, user_id)


async def remove(rt: Runtime, caller: Caller, relation: Relation, user_id: UUID) -> None:
    table, me, other = _TABLES[relation]
    async with rt.transaction(caller) as tx:
        await tx.execute(f"DELETE FROM public.{table} WHERE {me} = auth.uid() AND {other} = :id",
                         id=user_id)
        if relation == "block":
            _tell_gateways(tx, caller, user_id)


def _tell_gateways(tx: Tx, caller: Caller, user_id: UUID) -> None:
    """Both people's sockets read their block wall again at the commit (events.py)."""
    for person in (caller.user_id, user_id):
        tx.publish(user_channel(person), {"type": WALL_CHECK})


async def wall(rt: Runtime, caller: Caller) -> frozenset[str]:
    """The ids of everyone across a block from the caller, either way (``block_wall()``).
    Raises ``Unauthorized`` (``session_ended``) when the caller's session has ended."""
    async with rt.direct_transaction(caller) as tx:
        ids = await tx.scalar("SELECT public.block_wall()")
    # Most people block nobody: they all share one empty set (memory per idle socket).
    return frozenset(str(i) for i in ids) if ids else _NOBODY


_NOBODY: frozenset[str] = frozenset()


async def has(rt: Runtime, caller: Caller, relation: Relation, user_id: UUID) -> bool:
    """Whether the caller blocked (or muted) ``user_id``: one row looked up by its key,
    however many the caller has."""
    table, me, other = _TABLES[relation]
    async with rt.transaction(caller) as tx:
        return bool(await tx.scalar(
            f"SELECT EXISTS (SELECT 1 FROM public.{table}"
            f" WHERE {me} = auth.uid() AND {other} = :id)", id=user_id))


# One page of the people the caller blocked (or muted), newest first; ``{after}`` is empty
# or the keyset condition. The columns are the table's (_TABLES), never the caller's input.
_LIST = """
    SELECT t.created_at, u.id AS user_id, u.username AS user_username,
           u.full_name AS user_full_name, u.avatar_url AS user_avatar_url
    FROM public.{table} t JOIN public.users u ON u.id = t.{other}
    WHERE t.{me} = auth.uid() {after}
    ORDER BY t.created_at DESC, t.{other} DESC
    LIMIT :limit
"""


def _block_read(row: Any) -> BlockRead:
    return BlockRead(user=UserSummary.from_row(row, prefix="user_"),
                     created_at=row["created_at"])


async def list_page(rt: Runtime, caller: Caller, relation: Relation,
                    params: BlockListParams) -> Page[BlockRead]:
    """One page of everyone the caller blocked (or muted), newest first, by the key
    (created_at, their id): two made in the same instant are neither skipped nor repeated."""
    table, me, other = _TABLES[relation]
    bind: dict[str, object] = {"limit": params.limit + 1}
    after = ""
    if params.cursor is not None:
        bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
        after = f"AND (t.created_at, t.{other}) < (:c_at, :c_id)"
    async with rt.transaction(caller) as tx:
        rows = await tx.all(_LIST.format(table=table, me=me, other=other, after=after), **bind)
    page, next_cursor = page_of(rows, params.limit, lambda r: (r["created_at"], r["user_id"]))
    return Page[BlockRead](items=[_block_read(r) for r in page], next_cursor=next_cursor)


# What :func:`listing` shows at most (the settings page's one list, unpaged).
LISTING_MAX = 1000


async def listing(rt: Runtime, caller: Caller, relation: Relation) -> list[BlockRead]:
    """Everyone the caller blocked (or muted), newest first; at most ``LISTING_MAX``. For the
    settings page, which shows one list; the API pages with :func:`list_page`."""
    table, me, other = _TABLES[relation]
    async with rt.transaction(caller) as tx:
        rows = await tx.all(_LIST.format(table=table, me=me, other=other, after=""),
                            limit=LISTING_MAX)
    return [_block_read(r) for r in rows]


async def mute_room(rt: Runtime, caller: Caller, room_id: UUID, muted: bool) -> None:
    """Mute or unmute a room the caller is in (404 otherwise)."""
    async with rt.transaction(caller) as tx:
        if not await tx.scalar("SELECT public.is_room_member(:id)", id=room_id):
            raise NotFound("No such room", code="room_not_found")
        if muted:
            await tx.execute("INSERT INTO public.room_mutes (user_id, room_id)"
                             " VALUES (auth.uid(), :id) ON CONFLICT DO NOTHING", id=room_id)
        else:
            await tx.execute("DELETE FROM public.room_mutes WHERE user_id = auth.uid()"
                             " AND room_id = :id", id=room_id)
