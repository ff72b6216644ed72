"""0011 in SQL: ``set_vote()`` casts, switches and withdraws the caller's own
vote and returns the recounted score; it runs as the caller."""

from __future__ import annotations

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    CHECK_VIOLATION,
    acting_as,
    as_user,
    expect_error,
    make_post,
    make_question,
    make_user,
)

SET_VOTE = "SELECT public.set_vote($1, $2, $3::vote_type)"


async def test_cast_switch_withdraw_return_the_recount(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    post = await make_post(owner_conn, alice)
    question = await make_question(owner_conn, alice)
    async with acting_as(app_conn, as_user(bob)) as c:
        assert await c.fetchval(SET_VOTE, "question", question, "upvote") == 1
        assert await c.fetchval(SET_VOTE, "question", question, "upvote") == 1  # idempotent
        assert await c.fetchval(SET_VOTE, "question", question, "downvote") == -1
        assert await c.fetchval(SET_VOTE, "question", question, None) == 0
        assert await c.fetchval(SET_VOTE, "question", question, None) == 0  # withdrawing twice
        # A post is liked or not (0027).
        assert await c.fetchval(SET_VOTE, "post", post, "upvote") == 1
        await expect_error(c, CHECK_VIOLATION, SET_VOTE, "post", post, "downvote")
        assert await c.fetchval(SET_VOTE, "post", post, None) == 0
    # The vote rows are the caller's own, and the counters equal a recount.
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 0
    assert await owner_conn.fetchval("SELECT likes_count FROM posts WHERE id = $1", post) == 0
    assert await owner_conn.fetchval("SELECT votes_count FROM questions WHERE id = $1",
                                     question) == 0


async def test_refusals_run_as_the_caller(app_conn, owner_conn):
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    post = await make_post(owner_conn, alice)
    draft = await make_post(owner_conn, alice, published=False)
    async with acting_as(app_conn, ANON) as c:
        await expect_error(c, ACCESS_DENIED, SET_VOTE, "post", post, "upvote")
    async with acting_as(app_conn, as_user(alice)) as c:
        # Own content: check_vote_target's conflict.
        await expect_error(c, "P0001", SET_VOTE, "post", post, "upvote", message="conflict:")
    async with acting_as(app_conn, as_user(bob)) as c:
        await expect_error(c, "P0001", SET_VOTE, "post", draft, "upvote", message="not_found:")
        assert await c.fetchval(SET_VOTE, "post", draft, None) is None  # cannot see it
        await expect_error(c, "22023", SET_VOTE, "user", post, "upvote")
