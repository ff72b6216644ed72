"""Up- and downvotes on posts, comments, questions and answers.

The database does the work (0003): check_vote_target refuses a target that does
not exist or is a draft the voter cannot see (not_found, 404) and the voter's
own content (conflict, 409); update_vote_counts moves the target's counter by
row-level increments, so it equals a recount of the votes under any
concurrency. A vote is one row per (user, target): casting the same vote again
changes nothing, casting the other one switches it (the score moves by 2).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.db import Caller, Tx, transaction
from focushub.core.errors import NotFound
from focushub.posts.schemas import VoteType
from focushub.votes.schemas import VotableType, VoteRead

# Idempotent upsert: needs the INSERT policy (vote as yourself on something you
# can see), and for the conflict path the SELECT and UPDATE policies on your
# own vote; the only updatable column is vote_type.
_UPSERT = """
    INSERT INTO votes (user_id, votable_type, votable_id, vote_type)
    VALUES (auth.uid(), :votable_type, :votable_id, :vote_type)
    ON CONFLICT (user_id, votable_type, votable_id) DO UPDATE SET vote_type = EXCLUDED.vote_type
"""
_WITHDRAW = """
    DELETE FROM votes
    WHERE user_id = auth.uid() AND votable_type = :votable_type AND votable_id = :votable_id
"""
# A separate statement after the write: the counter is changed by an AFTER
# trigger, which a CTE of the same statement would not see. Under RLS, so a
# target the caller cannot see has no count (404).
_COUNT = {
    "post": "SELECT likes_count FROM posts WHERE id = :votable_id",
    "comment": "SELECT likes_count FROM comments WHERE id = :votable_id",
    "question": "SELECT votes_count FROM questions WHERE id = :votable_id",
    "answer": "SELECT votes_count FROM answers WHERE id = :votable_id",
}


async def _count(tx: Tx, votable_type: VotableType, votable_id: UUID) -> int:
    count = await tx.scalar(_COUNT[votable_type], votable_id=votable_id)
    if count is None:
        raise NotFound(f"There is no {votable_type} with this id", code=f"{votable_type}_not_found")
    return count


async def cast_vote(
    engine: AsyncEngine,
    caller: Caller,
    votable_type: VotableType,
    votable_id: UUID,
    vote_type: VoteType,
) -> VoteRead:
    async with transaction(engine, caller) as tx:
        await tx.execute(
            _UPSERT, votable_type=votable_type, votable_id=votable_id, vote_type=vote_type
        )
        count = await _count(tx, votable_type, votable_id)
    return VoteRead(
        votable_type=votable_type, votable_id=votable_id, count=count, my_vote=vote_type
    )


async def withdraw_vote(
    engine: AsyncEngine, caller: Caller, votable_type: VotableType, votable_id: UUID
) -> VoteRead:
    """Remove the caller's vote if there is one; withdrawing twice is not an error."""
    async with transaction(engine, caller) as tx:
        await tx.execute(_WITHDRAW, votable_type=votable_type, votable_id=votable_id)
        count = await _count(tx, votable_type, votable_id)
    return VoteRead(votable_type=votable_type, votable_id=votable_id, count=count, my_vote=None)
