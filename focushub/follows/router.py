"""Following people: ``/api/v1/users/{user_id}/follow|followers|following``.

The paths have more segments than ``GET /api/v1/users/{username}``, so they never clash with it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from focushub.core.deps import CallerDep, RuntimeDep, UserDep
from focushub.core.routing import Router
from focushub.follows import service
from focushub.follows.schemas import FollowListParams, FollowPage, FollowState

router = Router(prefix="/api/v1/users", tags=["follows"])


@router.get("/{user_id}/follow", response_model=FollowState)
async def read_follow_state(user_id: UUID, caller: CallerDep, rt: RuntimeDep) -> FollowState:
    return await service.get_state(rt, caller, user_id)


@router.put("/{user_id}/follow", response_model=FollowState)
async def follow_user(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> FollowState:
    """Following someone already followed changes nothing. 422 `follow_self`; 404
    `user_not_found`."""
    return await service.follow(rt, caller, user_id)


@router.delete("/{user_id}/follow", response_model=FollowState)
async def unfollow_user(user_id: UUID, caller: UserDep, rt: RuntimeDep) -> FollowState:
    """Unfollowing someone not followed changes nothing. 422 `follow_self`; 404
    `user_not_found`."""
    return await service.unfollow(rt, caller, user_id)


@router.get("/{user_id}/followers", response_model=FollowPage)
async def list_followers(
    user_id: UUID, params: Annotated[FollowListParams, Query()], caller: CallerDep, rt: RuntimeDep
) -> FollowPage:
    return await service.list_follows(rt, caller, user_id, "followers", params)


@router.get("/{user_id}/following", response_model=FollowPage)
async def list_following(
    user_id: UUID, params: Annotated[FollowListParams, Query()], caller: CallerDep, rt: RuntimeDep
) -> FollowPage:
    return await service.list_follows(rt, caller, user_id, "following", params)
