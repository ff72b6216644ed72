"""Up- and downvotes on posts, comments, questions and answers.

The database does the work (0003): check_vote_target refuses a target that does
not exist or is a draft the voter cannot see (404 ``<type>_not_found``) and the voter's
own content (conflict, 409); the INSERT policy refuses what the voter cannot see
otherwise (hidden, behind a block), answered 404 as well; update_vote_counts moves the target's counter by
row-level increments, so it equals a recount of the votes under any
concurrency. A vote is one row per (user, target): casting the same vote again
changes nothing, casting the other one switches it (the score moves by 2).
"""

from __future__ import annotations

from uuid import UUID

from focushub.content.schemas import VoteType
from focushub.core.db import Caller
from focushub.core.errors import AppError, Forbidden, NotFound, ValidationFailed
from focushub.core.runtime import Runtime
from focushub.votes.schemas import VotableType, VoteRead

# One round trip (0011): the upsert, or the delete when :vote_type is NULL,
# then the target's counter read after the trigger moved it, all as the caller
# under RLS. The upsert needs the INSERT policy (vote as yourself on something
# you can see), and for the conflict path the SELECT and UPDATE policies on
# your own vote; the only updatable column is vote_type. A target the caller
# cannot see has no count (404).
# Posts and comments are liked (upvotes only); questions and answers are voted up and down.
LIKED = frozenset({"post", "comment"})

_SET_VOTE = "SELECT public.set_vote(:votable_type, :votable_id, CAST(:vote_type AS vote_type))"


async def _set_vote(
    rt: Runtime,
    caller: Caller,
    votable_type: VotableType,
    votable_id: UUID,
    vote_type: VoteType | None,
) -> VoteRead:
    not_found = NotFound(f"There is no {votable_type} with this id",
                         code=f"{votable_type}_not_found")
    try:
        async with rt.direct_transaction(caller) as tx:  # a hot path (CONTRIBUTING.md)
            count = await tx.scalar(
                _SET_VOTE, votable_type=votable_type, votable_id=votable_id, vote_type=vote_type
            )
    except Forbidden:
        # The INSERT policy's refusal (insufficient privilege): the vote is the caller's own,
        # so what they may not see is its target (hidden by a moderator, behind a block),
        # which is not there for them.
        raise not_found from None
    except AppError as exc:
        # check_vote_target's 'not_found' (0003): the same 404 as withdrawing a vote on it.
        if exc.code != "not_found":
            raise
        raise not_found from None
    if count is None:
        raise not_found
    return VoteRead(
        votable_type=votable_type, votable_id=votable_id, count=count, my_vote=vote_type
    )


async def cast_vote(
    rt: Runtime,
    caller: Caller,
    votable_type: VotableType,
    votable_id: UUID,
    vote_type: VoteType,
) -> VoteRead:
    if vote_type == "downvote" and votable_type in LIKED:
        # The database refuses it too (votes_likes_are_upvotes, 0027); say why.
        raise ValidationFailed(f"A {votable_type} is liked or not: send vote_type upvote",
                               code="likes_only")
    return await _set_vote(rt, caller, votable_type, votable_id, vote_type)


async def withdraw_vote(
    rt: Runtime, caller: Caller, votable_type: VotableType, votable_id: UUID
) -> VoteRead:
    """Remove the caller's vote if there is one; withdrawing twice is not an error."""
    return await _set_vote(rt, caller, votable_type, votable_id, None)
