"""``PUT`` and ``DELETE /api/v1/{posts|comments|questions|answers}/{id}/vote``.

Four explicit paths rather than one ``/{kind}/{id}/vote`` pattern, so that the
OpenAPI document lists each votable resource and no other path is captured.
"""

from __future__ import annotations

from uuid import UUID

from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.jsonsql import JSONBytes, model_json
from focushub.core.routing import Router
from focushub.votes import service
from focushub.votes.schemas import VotableType, VoteCreate, VoteRead

router = Router(prefix="/api/v1", tags=["votes"])

_COLLECTIONS: dict[str, VotableType] = {
    "posts": "post",
    "comments": "comment",
    "questions": "question",
    "answers": "answer",
}


def _add_routes(collection: str, votable_type: VotableType) -> None:
    path = f"/{collection}/{{votable_id}}/vote"

    @router.put(
        path,
        response_model=VoteRead,
        name=f"vote_on_{votable_type}",
        summary=f"Upvote or downvote a {votable_type} (idempotent)",
        description=f"404 `{votable_type}_not_found`; 409 on one's own {votable_type}.",
    )
    async def cast(
        votable_id: UUID, data: VoteCreate, caller: UserDep, rt: RuntimeDep
    ) -> JSONBytes:
        return model_json(
            await service.cast_vote(rt, caller, votable_type, votable_id, data.vote_type))

    @router.delete(
        path,
        response_model=VoteRead,
        name=f"withdraw_vote_on_{votable_type}",
        summary=f"Withdraw your vote on a {votable_type}",
        description=f"404 `{votable_type}_not_found`.",
    )
    async def withdraw(votable_id: UUID, caller: UserDep, rt: RuntimeDep) -> JSONBytes:
        return model_json(await service.withdraw_vote(rt, caller, votable_type, votable_id))


for _collection, _votable_type in _COLLECTIONS.items():
    _add_routes(_collection, _votable_type)
