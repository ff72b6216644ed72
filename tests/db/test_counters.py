"""Counters kept by triggers: exact under concurrency, on the right column, cleaned up with items.

Votes and comments here are written as ``authenticated`` users through the
server's login role, so the SECURITY DEFINER counter triggers are exercised
exactly as the API exercises them (the seed's invoker triggers silently
skipped every counter on someone else's content). Every count is compared
with a recount of the rows it counts.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.db.helpers import (
    CHECK_VIOLATION,
    acting_as,
    as_user,
    commit_as,
    expect_error,
    make_answer,
    make_comment,
    make_post,
    make_question,
    make_user,
    make_vote,
    set_caller,
)

VOTERS = 30

# votable_type -> (table, counter column)
COUNTERS = {
    "post": ("posts", "likes_count"),
    "comment": ("comments", "likes_count"),
    "question": ("questions", "votes_count"),
    "answer": ("answers", "votes_count"),
}


async def counter(conn: asyncpg.Connection, kind: str, target: uuid.UUID) -> int:
    table, column = COUNTERS[kind]
    return await conn.fetchval(f"SELECT {column} FROM {table} WHERE id = $1", target)


async def recount(owner: asyncpg.Connection, kind: str, target: uuid.UUID) -> int:
    return await owner.fetchval(
        "SELECT coalesce(sum(CASE vote_type WHEN 'upvote' THEN 1 ELSE -1 END), 0)"
        " FROM votes WHERE votable_type = $1 AND votable_id = $2",
        kind,
        target,
    )


async def _all_at_once(url: str, users: list[uuid.UUID], work) -> None:
    """Open one connection per user, then run ``work(conn, i)`` in all transactions at the same moment."""
    conns = await asyncio.gather(*(asyncpg.connect(url) for _ in users))
    start = asyncio.Event()

    async def one(i: int, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await set_caller(conn, as_user(users[i]))
            await start.wait()
            await work(conn, i)

    try:
        tasks = [asyncio.create_task(one(i, c)) for i, c in enumerate(conns)]
        await asyncio.sleep(0.05)
        start.set()
        await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_concurrent_votes_give_exact_counts(test_db, owner_conn):
    author = await make_user(owner_conn)
    voters = [await make_user(owner_conn) for _ in range(VOTERS)]
    post = await make_post(owner_conn, author)
    question = await make_question(owner_conn, author)
    answer = await make_answer(owner_conn, question, author)
    comment = await make_comment(owner_conn, post, author)
    targets = {"question": question, "answer": answer, "post": post, "comment": comment}

    def first_vote(i: int, kind: str = "question") -> str:
        # Posts and comments are liked (upvotes only, 0027); questions and answers scored.
        return "downvote" if i % 3 == 0 and kind in ("question", "answer") else "upvote"

    # 30 users vote at once on the same four items (always in the same order).
    async def vote_everything(conn: asyncpg.Connection, i: int) -> None:
        for kind, target in targets.items():
            await conn.execute(
                "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, $2, $3, $4)",
                voters[i],
                kind,
                target,
                first_vote(i, kind),
            )

    await _all_at_once(test_db.app_url, voters, vote_everything)
    for kind, target in targets.items():
        expected = sum(1 if first_vote(i, kind) == "upvote" else -1 for i in range(VOTERS))
        assert expected == (10 if kind in ("question", "answer") else VOTERS)
        assert (
            await counter(owner_conn, kind, target)
            == await recount(owner_conn, kind, target)
            == expected
        )

    # At once again: the first ten switch sides (each moves the score by 2),
    # the next ten withdraw, the rest vote again through the upsert path.
    async def switch_or_withdraw(conn: asyncpg.Connection, i: int) -> None:
        if i < 10:
            flipped = "upvote" if first_vote(i) == "downvote" else "downvote"
            await conn.execute(
                "UPDATE votes SET vote_type = $2 WHERE user_id = $1 AND votable_type = 'question'",
                voters[i],
                flipped,
            )
        elif i < 20:
            await conn.execute(
                "DELETE FROM votes WHERE user_id = $1 AND votable_type = 'question'", voters[i]
            )
        else:
            await conn.execute(
                "INSERT INTO votes (user_id, votable_type, votable_id, vote_type) VALUES ($1, 'question', $2, $3)"
                " ON CONFLICT (user_id, votable_type, votable_id) DO UPDATE SET vote_type = EXCLUDED.vote_type",
                voters[i],
                question,
                first_vote(i),
            )

    await _all_at_once(test_db.app_url, voters, switch_or_withdraw)
    flipped = sum(-1 if first_vote(i) == "upvote" else 1 for i in range(10))
    unchanged = sum(1 if first_vote(i) == "upvote" else -1 for i in range(20, VOTERS))
    assert (
        await counter(owner_conn, "question", question)
        == await recount(owner_conn, "question", question)
        == flipped + unchanged
    )


async def test_each_kind_of_vote_moves_its_own_counter(app_conn, owner_conn):
    author, voter = await make_user(owner_conn), await make_user(owner_conn)
    post = await make_post(owner_conn, author)
    question = await make_question(owner_conn, author)
    targets = {
        "post": post,
        "comment": await make_comment(owner_conn, post, author),
        "question": question,
        "answer": await make_answer(owner_conn, question, author),
    }
    async with acting_as(app_conn, as_user(voter)) as c:
        for kind, target in targets.items():
            before = {k: await counter(c, k, t) for k, t in targets.items()}
            vote = await c.fetchval(
                "INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
                " VALUES ($1, $2, $3, 'upvote') RETURNING id",
                voter,
                kind,
                target,
            )
            assert await counter(c, kind, target) == before[kind] + 1
            if kind in ("post", "comment"):
                # Liked or not (0027): a like does not turn into a downvote.
                await expect_error(c, CHECK_VIOLATION,
                                   "UPDATE votes SET vote_type = 'downvote' WHERE id = $1", vote)
            else:
                await c.execute("UPDATE votes SET vote_type = 'downvote' WHERE id = $1", vote)
                assert await counter(c, kind, target) == before[kind] - 1
                await c.execute("UPDATE votes SET vote_type = 'downvote' WHERE id = $1", vote)
                assert await counter(c, kind, target) == before[kind] - 1
                await c.execute("UPDATE votes SET vote_type = 'upvote' WHERE id = $1", vote)
            assert await counter(c, kind, target) == before[kind] + 1
            # Every other counter stayed where it was.
            for other, t in targets.items():
                if other != kind:
                    assert await counter(c, other, t) == before[other]
            await c.execute("DELETE FROM votes WHERE id = $1", vote)
            assert await counter(c, kind, target) == before[kind]
        # Votes never touch the other counters of the same rows.
        assert await c.fetchval("SELECT comments_count FROM posts WHERE id = $1", post) == 1
        assert await c.fetchval("SELECT answers_count FROM questions WHERE id = $1", question) == 1


async def test_votes_disappear_with_what_they_voted_on(app_conn, owner_conn):
    alice, bob, carol = (
        await make_user(owner_conn),
        await make_user(owner_conn),
        await make_user(owner_conn),
    )
    post = await make_post(owner_conn, alice)
    top = await make_comment(owner_conn, post, alice)
    reply = await make_comment(owner_conn, post, carol, parent=top)
    question = await make_question(owner_conn, alice)
    answer = await make_answer(owner_conn, question, carol)
    for kind, target in (
        ("post", post),
        ("comment", top),
        ("comment", reply),
        ("question", question),
        ("answer", answer),
    ):
        await make_vote(owner_conn, bob, kind, target)

    # Deleting a comment removes the votes of its replies too (cascade).
    assert (
        await commit_as(app_conn, as_user(alice), "DELETE FROM comments WHERE id = $1", top)
        == "DELETE 1"
    )
    assert (
        await owner_conn.fetchval("SELECT count(*) FROM votes WHERE votable_type = 'comment'") == 0
    )
    assert await owner_conn.fetchval("SELECT comments_count FROM posts WHERE id = $1", post) == 0

    # Deleting a question removes its votes and those of its answers.
    assert (
        await commit_as(app_conn, as_user(alice), "DELETE FROM questions WHERE id = $1", question)
        == "DELETE 1"
    )
    assert (
        await owner_conn.fetchval(
            "SELECT count(*) FROM votes WHERE votable_type IN ('question', 'answer')"
        )
        == 0
    )

    # A voter's account going away takes their votes off the counters.
    assert await owner_conn.fetchval("SELECT likes_count FROM posts WHERE id = $1", post) == 1
    await owner_conn.execute("DELETE FROM users WHERE id = $1", bob)
    assert await owner_conn.fetchval("SELECT likes_count FROM posts WHERE id = $1", post) == 0

    # And an author's account going away takes their content and its votes.
    await make_vote(owner_conn, carol, "post", post)
    await owner_conn.execute("DELETE FROM users WHERE id = $1", alice)
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 0


async def test_comments_count_is_exact(app_conn, owner_conn, test_db):
    alice, bob, carol = (
        await make_user(owner_conn),
        await make_user(owner_conn),
        await make_user(owner_conn),
    )
    post = await make_post(owner_conn, alice)
    insert = (
        "INSERT INTO comments (post_id, author_id, parent_id, content) VALUES ($1, $2, $3, 'c')"
        " RETURNING id"
    )

    async with app_conn.transaction():
        await set_caller(app_conn, as_user(bob))
        first = await app_conn.fetchval(insert, post, bob, None)
        await app_conn.fetchval(insert, post, bob, None)
    async with app_conn.transaction():
        await set_caller(app_conn, as_user(carol))
        reply = await app_conn.fetchval(insert, post, carol, first)
        await app_conn.fetchval(insert, post, carol, reply)
    assert await owner_conn.fetchval("SELECT comments_count FROM posts WHERE id = $1", post) == 4

    # Twenty people comment at the same moment.
    people = [await make_user(owner_conn) for _ in range(20)]

    async def comment(conn: asyncpg.Connection, i: int) -> None:
        await conn.execute(insert, post, people[i], None)

    await _all_at_once(test_db.app_url, people, comment)
    assert await owner_conn.fetchval("SELECT comments_count FROM posts WHERE id = $1", post) == 24

    # Deleting a comment with a reply chain removes all of it from the count.
    await commit_as(app_conn, as_user(bob), "DELETE FROM comments WHERE id = $1", first)
    count, real = await owner_conn.fetchrow(
        "SELECT comments_count, (SELECT count(*) FROM comments WHERE post_id = $1) FROM posts WHERE id = $1",
        post,
    )
    assert count == real == 21


async def test_answers_count_and_accepted_answer_removal(app_conn, owner_conn):
    alice, bob, carol = (
        await make_user(owner_conn),
        await make_user(owner_conn),
        await make_user(owner_conn),
    )
    question = await make_question(owner_conn, alice)
    insert = (
        "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'a') RETURNING id"
    )
    async with app_conn.transaction():
        await set_caller(app_conn, as_user(bob))
        bobs = await app_conn.fetchval(insert, question, bob)
    async with app_conn.transaction():
        await set_caller(app_conn, as_user(carol))
        carols = await app_conn.fetchval(insert, question, carol)
    assert (
        await owner_conn.fetchval("SELECT answers_count FROM questions WHERE id = $1", question)
        == 2
    )

    await commit_as(app_conn, as_user(bob), "DELETE FROM answers WHERE id = $1", bobs)
    assert (
        await owner_conn.fetchval("SELECT answers_count FROM questions WHERE id = $1", question)
        == 1
    )

    # What a later accept function will do; removing that answer reopens the question.
    await owner_conn.execute("UPDATE answers SET is_accepted = true WHERE id = $1", carols)
    await owner_conn.execute("UPDATE questions SET status = 'answered' WHERE id = $1", question)
    await commit_as(app_conn, as_user(carol), "DELETE FROM answers WHERE id = $1", carols)
    row = await owner_conn.fetchrow(
        "SELECT answers_count, status::text FROM questions WHERE id = $1", question
    )
    assert tuple(row) == (0, "open")


async def test_counters_do_not_touch_updated_at(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    question = await make_question(owner_conn, alice)
    await owner_conn.execute(
        "UPDATE questions SET updated_at = now() - interval '1 day' WHERE id = $1", question
    )
    stamp = await owner_conn.fetchval("SELECT updated_at FROM questions WHERE id = $1", question)
    await commit_as(
        app_conn,
        as_user(bob),
        "INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
        " VALUES ($1, 'question', $2, 'upvote')",
        bob,
        question,
    )
    await commit_as(
        app_conn,
        as_user(bob),
        "INSERT INTO answers (question_id, author_id, content) VALUES ($1, $2, 'a')",
        question,
        bob,
    )
    row = await owner_conn.fetchrow(
        "SELECT votes_count, answers_count, updated_at FROM questions WHERE id = $1", question
    )
    assert (row["votes_count"], row["answers_count"], row["updated_at"]) == (1, 1, stamp)
    await commit_as(
        app_conn, as_user(alice), "UPDATE questions SET title = 'Edited' WHERE id = $1", question
    )
    assert (
        await owner_conn.fetchval("SELECT updated_at FROM questions WHERE id = $1", question)
        > stamp
    )


@pytest.mark.parametrize("kind", ["post", "comment"])
async def test_likes_count_likes_and_never_go_below_zero(app_conn, owner_conn, kind):
    author, a, b = (
        await make_user(owner_conn),
        await make_user(owner_conn),
        await make_user(owner_conn),
    )
    post = await make_post(owner_conn, author)
    target = post if kind == "post" else await make_comment(owner_conn, post, author)
    insert = ("INSERT INTO votes (user_id, votable_type, votable_id, vote_type)"
              " VALUES ($1, $2, $3, $4)")
    await commit_as(app_conn, as_user(a), insert, a, kind, target, "upvote")
    async with acting_as(app_conn, as_user(b)) as c:
        await expect_error(c, CHECK_VIOLATION, insert, b, kind, target, "downvote")
    assert await counter(owner_conn, kind, target) == await recount(owner_conn, kind, target) == 1
    # Not even the owner can push the counter below zero.
    table = "posts" if kind == "post" else "comments"
    await expect_error(owner_conn, CHECK_VIOLATION,
                       f"UPDATE {table} SET likes_count = -1 WHERE id = $1", target)
