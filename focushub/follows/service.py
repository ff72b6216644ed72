"""Following people: follow, unfollow, the follow state, followers and following lists.

Policies (0003): follows are public; a follow is created and removed only by
its follower (``auth.uid() = follower_id``); nobody follows themselves
(``followers_not_self``). Counts are ``count(*)`` over ``followers`` in the
same statement that reads the state, never arithmetic in Python. The follow
notification is written by the ``notify_on_follow`` trigger (0007) in the same
transaction as the follow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from focushub.core.db import Caller, Tx
from focushub.core.errors import NotFound, ValidationFailed
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.follows.schemas import (
    FollowListItem,
    FollowListParams,
    FollowPage,
    FollowState,
    HiddenFollow,
)
from focushub.safety import limits

_STATE = """
    SELECT u.id AS user_id,
           CASE WHEN auth.uid() IS NULL THEN NULL
                ELSE EXISTS (SELECT 1 FROM public.followers f
                             WHERE f.follower_id = auth.uid() AND f.following_id = u.id)
           END AS following,
           (SELECT count(*) FROM public.followers f WHERE f.following_id = u.id) AS followers_count,
           (SELECT count(*) FROM public.followers f WHERE f.follower_id = u.id) AS following_count
    FROM public.users u
    WHERE u.id = :user_id
"""

# Whom the caller may look up, as their profile (users/service.py): not across a block
# (0025), nor, for anonymous callers, someone who shows their profile to the signed-in only
# (0028), nor a deactivated account (0051). Following and unfollowing look people up by id
# alone (the database refuses a follow across a block). The lists show only such people.
_PROFILE_VISIBLE = ("AND u.id <> ALL ((SELECT public.block_wall())::uuid[])"
                    " AND public.profile_visible(u.id)")

# Direction -> (column that must equal the user, column naming the listed person).
_LISTS: dict[str, tuple[str, str]] = {
    "followers": ("following_id", "follower_id"),
    "following": ("follower_id", "following_id"),
}


async def _state(tx: Tx, user_id: UUID, *, as_profile: bool = False) -> FollowState:
    """The follow state of ``user_id``; 404 when there is no such user or, ``as_profile``,
    when the caller may not see their profile."""
    row = await tx.one_or_none(_STATE + (_PROFILE_VISIBLE if as_profile else ""),
                               user_id=user_id)
    if row is None:
        raise NotFound("No such user", code="user_not_found")
    return FollowState.model_validate(dict(row))


async def get_state(rt: Runtime, caller: Caller, user_id: UUID) -> FollowState:
    async with rt.transaction(caller) as tx:
        return await _state(tx, user_id, as_profile=True)


def _check_not_self(caller: Caller, user_id: UUID) -> None:
    # The CHECK followers_not_self refuses it anyway; this gives the clearer message, and the
    # code a block or a mute of oneself has (block_self, mute_self).
    if caller.user_id == user_id:
        raise ValidationFailed("You cannot follow yourself", code="follow_self",
                               details={"field": "user_id"})


async def follow(rt: Runtime, caller: Caller, user_id: UUID) -> FollowState:
    """Follow ``user_id``; following someone already followed changes nothing."""
    await limits.check_write(rt, caller, "follow")
    _check_not_self(caller, user_id)
    async with rt.transaction(caller) as tx:
        # As the profile: 404 for someone one may not see (a deactivated account, 0051).
        exists = await tx.scalar(
            "SELECT EXISTS (SELECT 1 FROM public.users u WHERE u.id = :id"
            " AND public.profile_visible(u.id))", id=user_id)
        if not exists:
            raise NotFound("No such user", code="user_not_found")
        await tx.execute(
            "INSERT INTO public.followers (follower_id, following_id) VALUES (auth.uid(), :id)"
            " ON CONFLICT (follower_id, following_id) DO NOTHING",
            id=user_id,
        )
        return await _state(tx, user_id)


async def unfollow(rt: Runtime, caller: Caller, user_id: UUID) -> FollowState:
    """Stop following ``user_id``; unfollowing someone not followed changes nothing.

    Someone whose profile the caller may not see (across a block, a deactivated account)
    is 404 as for nobody, as their follow state is; a follow of theirs is still removed
    (committed before the 404), so a deactivated account one followed can be let go."""
    _check_not_self(caller, user_id)
    async with rt.transaction(caller) as tx:
        await tx.execute(
            "DELETE FROM public.followers WHERE follower_id = auth.uid() AND following_id = :id",
            id=user_id,
        )
        row = await tx.one_or_none(_STATE + _PROFILE_VISIBLE, user_id=user_id)
    if row is None:
        raise NotFound("No such user", code="user_not_found")
    return FollowState.model_validate(dict(row))


async def list_follows(
    rt: Runtime,
    caller: Caller,
    user_id: UUID,
    direction: Literal["followers", "following"],
    params: FollowListParams,
) -> FollowPage:
    """One page of the people following ``user_id`` (or followed by them), latest follow first.

    Only people whose profile the caller may see are listed (not across a block, not a
    profile shown to the signed-in only for anonymous callers, not a deactivated account
    but to administrators), as people search and the profile itself decide; the counts and
    ``total`` are those of every follow. Three statements whatever the page size: the role
    switch, the user's counts (404 when there is no such user, or their profile is not the
    caller's to see), the page.
    """
    own_col, listed_col = _LISTS[direction]
    after = ""
    bind: dict[str, object] = {"user_id": user_id, "limit": params.limit + 1}
    if params.cursor is not None:
        bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
        after = "AND (f.created_at, f.id) < (:c_at, :c_id)"
    async with rt.transaction(caller) as tx:
        state = await _state(tx, user_id, as_profile=True)
        rows = await tx.all(
            f"""
            SELECT u.id, u.username, u.full_name, u.avatar_url,
                   f.created_at AS followed_at, f.id AS follow_id,
                   CASE WHEN auth.uid() IS NULL THEN NULL
                        ELSE EXISTS (SELECT 1 FROM public.followers m
                                     WHERE m.follower_id = auth.uid() AND m.following_id = u.id)
                   END AS followed_by_me
            FROM public.followers f
            JOIN public.users u ON u.id = f.{listed_col}
            WHERE f.{own_col} = :user_id {after} {_PROFILE_VISIBLE}
            ORDER BY f.created_at DESC, f.id DESC
            LIMIT :limit
            """,
            **bind,
        )
    page, next_cursor = page_of(rows, params.limit, lambda r: (r["followed_at"], r["follow_id"]))
    return FollowPage(
        items=[FollowListItem.model_validate(dict(r)) for r in page],
        next_cursor=next_cursor,
        total=state.followers_count if direction == "followers" else state.following_count,
        followers_count=state.followers_count,
        following_count=state.following_count,
    )


async def list_hidden_following(rt: Runtime, caller: Caller,
                                params: FollowListParams) -> Page[HiddenFollow]:
    """One page of the caller's own follows of people whose profile they may not see, which
    the lists leave out (a deactivated account; a block ends follows both ways), latest
    follow first, so that they can be let go (``unfollow``). Only the account's id and when
    the follow began, as the caller's account export has them: nothing of the profile.
    Empty for anonymous callers."""
    after = ""
    bind: dict[str, object] = {"limit": params.limit + 1}
    if params.cursor is not None:
        bind["c_at"], bind["c_id"] = decode_cursor(params.cursor, (datetime, UUID))
        after = "AND (f.created_at, f.id) < (:c_at, :c_id)"
    async with rt.transaction(caller) as tx:
        rows = await tx.all(
            f"""
            SELECT f.following_id AS user_id, f.created_at AS followed_at, f.id AS follow_id
            FROM public.followers f
            WHERE f.follower_id = auth.uid() {after}
              AND NOT (f.following_id <> ALL ((SELECT public.block_wall())::uuid[])
                       AND public.profile_visible(f.following_id))
            ORDER BY f.created_at DESC, f.id DESC
            LIMIT :limit
            """,
            **bind,
        )
    page, next_cursor = page_of(rows, params.limit, lambda r: (r["followed_at"], r["follow_id"]))
    return Page[HiddenFollow](items=[HiddenFollow.model_validate(dict(r)) for r in page],
                              next_cursor=next_cursor)
