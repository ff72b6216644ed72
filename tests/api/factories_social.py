"""Content for follow, feed, search and notification tests, written as the acting user.

Posts, comments, questions, answers, votes and resources are inserted with SQL
run through ``focushub.core.db.transaction`` as the signed-in user of a
session from ``make_user``: the same role, claims, RLS policies and triggers as
an API request, without depending on the endpoints of other domains.
Users who never call the API themselves (voters, followers) can be made with
``make_member``, as the schema owner, to skip the cost of signing up.
Timestamps can be set afterwards (``backdate``) as the schema owner, for tests
that need a known order or age.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.db import Caller, transaction

_members = 0


async def make_member(owner: asyncpg.Connection) -> dict[str, Any]:
    """A user who only acts through these factories (no password, no token): inserted as the
    schema owner, which is much cheaper than signing up. Shaped like a ``make_user`` session
    minus ``headers``."""
    global _members
    _members += 1
    username = f"member_{_members}"
    row = await owner.fetchrow(
        "INSERT INTO users (email, full_name, username) VALUES ($1, $2, $3)"
        " RETURNING id, username, full_name",
        f"{username}@example.org", f"Member {_members}", username,
    )
    return {"user": {"id": str(row["id"]), "username": row["username"], "full_name": row["full_name"]}}


async def follow(engine: AsyncEngine, session: dict[str, Any], target: dict[str, Any]) -> None:
    async with transaction(engine, caller_of(session)) as tx:
        await tx.execute(
            "INSERT INTO followers (follower_id, following_id) VALUES (auth.uid(), :target)",
            target=UUID(target["user"]["id"]),
        )


def caller_of(session: dict[str, Any]) -> Caller:
    user_id = session["user"]["id"]
    return Caller(role="authenticated", user_id=UUID(user_id), claims={"sub": user_id})


def user_id(session: dict[str, Any]) -> UUID:
    return UUID(session["user"]["id"])


async def _insert(engine: AsyncEngine, session: dict[str, Any], sql: str, **params: Any) -> UUID:
    async with transaction(engine, caller_of(session)) as tx:
        return await tx.scalar(sql, **params)


async def make_post(
    engine: AsyncEngine,
    session: dict[str, Any],
    *,
    title: str = "What I learned today",
    content: str = "Notes about something interesting",
    published: bool = True,
    category: str | None = None,
    tags: list[str] | None = None,
) -> UUID:
    return await _insert(
        engine, session,
        "INSERT INTO posts (author_id, title, content, is_published, category, tags)"
        " VALUES (auth.uid(), :title, :content, :published, :category, :tags) RETURNING id",
        title=title, content=content, published=published, category=category, tags=tags,
    )


async def make_question(
    engine: AsyncEngine,
    session: dict[str, Any],
    *,
    title: str = "How do joins work?",
    content: str = "I am confused by LEFT JOIN",
    category: str | None = None,
    tags: list[str] | None = None,
) -> UUID:
    return await _insert(
        engine, session,
        "INSERT INTO questions (author_id, title, content, category, tags)"
        " VALUES (auth.uid(), :title, :content, :category, :tags) RETURNING id",
        title=title, content=content, category=category, tags=tags,
    )


async def make_comment(
    engine: AsyncEngine,
    session: dict[str, Any],
    post_id: UUID,
    *,
    content: str = "Nice one",
    parent_id: UUID | None = None,
) -> UUID:
    return await _insert(
        engine, session,
        "INSERT INTO comments (post_id, author_id, parent_id, content)"
        " VALUES (:post_id, auth.uid(), :parent_id, :content) RETURNING id",
        post_id=post_id, parent_id=parent_id, content=content,
    )


async def make_answer(
    engine: AsyncEngine, session: dict[str, Any], question_id: UUID, *, content: str = "Keep every left row"
) -> UUID:
    return await _insert(
        engine, session,
        "INSERT INTO answers (question_id, author_id, content) VALUES (:question_id, auth.uid(), :content)"
        " RETURNING id",
        question_id=question_id, content=content,
    )


async def make_resource(
    engine: AsyncEngine,
    session: dict[str, Any],
    *,
    title: str = "Cheat sheet",
    description: str | None = "A one-page summary",
    public: bool = True,
) -> UUID:
    return await _insert(
        engine, session,
        "INSERT INTO resources (author_id, title, description, file_url, file_name, file_size, file_type,"
        " is_public) VALUES (auth.uid(), :title, :description, 's3://bucket/x.pdf', 'x.pdf', 1024,"
        " 'application/pdf', :public) RETURNING id",
        title=title, description=description, public=public,
    )


async def vote(
    engine: AsyncEngine, session: dict[str, Any], kind: str, target: UUID, vote_type: str = "upvote"
) -> None:
    await _insert(
        engine, session,
        "INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
        " VALUES (auth.uid(), :kind, :target, CAST(:vote_type AS vote_type))"
        " ON CONFLICT (user_id, votable_type, votable_id) DO UPDATE SET vote_type = EXCLUDED.vote_type"
        " RETURNING id",
        kind=kind, target=target, vote_type=vote_type,
    )


async def withdraw_vote(engine: AsyncEngine, session: dict[str, Any], kind: str, target: UUID) -> None:
    async with transaction(engine, caller_of(session)) as tx:
        await tx.execute(
            "DELETE FROM votes WHERE user_id = auth.uid() AND votable_type = :kind AND votable_id = :target",
            kind=kind, target=target,
        )


async def edit(engine: AsyncEngine, session: dict[str, Any], table: str, row_id: UUID, **values: Any) -> None:
    """UPDATE one of the caller's own rows (``table`` is a literal from the test)."""
    assignments = ", ".join(f"{col} = :{col}" for col in values)
    async with transaction(engine, caller_of(session)) as tx:
        await tx.execute(f"UPDATE {table} SET {assignments} WHERE id = :row_id", row_id=row_id, **values)


async def backdate(owner: asyncpg.Connection, table: str, row_id: UUID, created_at: datetime) -> None:
    """Set created_at as the schema owner (no request role may write it)."""
    await owner.execute(f"UPDATE {table} SET created_at = $1 WHERE id = $2", created_at, row_id)


TRENDING_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def trending_score(votes: int, replies: int, created_at: datetime | str) -> float:
    """The stored trending score of 0010, computed independently in Python."""
    if isinstance(created_at, str):
        created_at = datetime.fromisoformat(created_at)
    s = votes + 2 * replies
    activity = math.copysign(math.log10(max(abs(s), 1)), s) if s else 0.0
    # Rounded to tenths, half away from zero, as PostgreSQL's numeric round().
    activity = float(Decimal(repr(activity)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return activity + (created_at - TRENDING_EPOCH).total_seconds() / 72000
