"""Votes through HTTP: idempotent, switchable, withdrawable, and counters that equal a recount
even when many people vote at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from focushub.app import create_app
from focushub.core.db import Caller, transaction
from tests.api.conftest import make_user
from tests.api.factories_content import make_comment, make_post
from tests.api.factories_qa import make_answer, make_question

RECOUNT = """
SELECT coalesce(sum(CASE vote_type WHEN 'upvote' THEN 1 ELSE -1 END), 0)
FROM votes WHERE votable_type = $1 AND votable_id = $2
"""
COUNTER = {
    "post": "SELECT likes_count FROM posts WHERE id = $1",
    "comment": "SELECT likes_count FROM comments WHERE id = $1",
    "question": "SELECT votes_count FROM questions WHERE id = $1",
    "answer": "SELECT votes_count FROM answers WHERE id = $1",
}


async def _counter_and_recount(owner_conn, kind: str, item_id: str) -> tuple[int, int]:
    target = uuid.UUID(item_id)
    return await owner_conn.fetchval(COUNTER[kind], target), await owner_conn.fetchval(RECOUNT, kind, target)


async def _question(engine, author: dict[str, Any]) -> str:
    """A question written by ``author`` in SQL under RLS (the questions API lives elsewhere)."""
    caller = Caller(role="authenticated", user_id=uuid.UUID(author["user"]["id"]))
    async with transaction(engine, caller) as tx:
        return str(await tx.scalar(
            "INSERT INTO questions (author_id, title, content) VALUES (auth.uid(), 'Why?', 'Because.')"
            " RETURNING id"))


async def _answer(engine, author: dict[str, Any], question_id: str) -> str:
    caller = Caller(role="authenticated", user_id=uuid.UUID(author["user"]["id"]))
    async with transaction(engine, caller) as tx:
        return str(await tx.scalar(
            "INSERT INTO answers (question_id, author_id, content) VALUES (:q, auth.uid(), 'This.')"
            " RETURNING id", q=uuid.UUID(question_id)))


async def _vote(client, session, path: str, vote_type: str | None) -> httpx.Response:
    if vote_type is None:
        return await client.delete(f"{path}/vote", headers=session["headers"])
    return await client.put(f"{path}/vote", headers=session["headers"], json={"vote_type": vote_type})


@pytest.mark.parametrize("kind", ["post", "comment", "question", "answer"])
async def test_vote_switch_and_withdraw(client, engine, owner_conn, kind):
    author, voter = await make_user(client), await make_user(client)
    if kind in ("post", "comment"):
        post = await make_post(client, author)
        item_id = post["id"] if kind == "post" else (await make_comment(client, author, post["id"]))["id"]
    else:
        question = await _question(engine, author)
        item_id = question if kind == "question" else await _answer(engine, author, question)
    path = f"/api/v1/{kind}s/{item_id}"

    if kind in ("post", "comment"):
        # Liked or not (0027): a downvote is refused and changes nothing.
        steps = [("upvote", 1), ("upvote", 1), (None, 0), (None, 0), ("upvote", 1)]
        r = await _vote(client, voter, path, "downvote")
        assert r.status_code == 422 and r.json()["error"]["code"] == "likes_only"
    else:
        steps = [("upvote", 1), ("upvote", 1), ("downvote", -1), ("downvote", -1), ("upvote", 1),
                 (None, 0), (None, 0), ("downvote", -1)]
    for vote_type, expected in steps:
        r = await _vote(client, voter, path, vote_type)
        assert r.status_code == 200, r.text
        assert r.json() == {"votable_type": kind, "votable_id": item_id, "count": expected,
                            "my_vote": vote_type}
        assert await _counter_and_recount(owner_conn, kind, item_id) == (expected, expected)
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 1

    # Voting on your own content is a conflict; nothing is stored.
    r = await _vote(client, author, path, "upvote")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert (await _vote(client, author, path, None)).json()["count"] == steps[-1][1]
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 1


async def test_my_vote_shows_on_the_voted_items(client):
    author, voter = await make_user(client), await make_user(client)
    post = await make_post(client, author)
    comment = await make_comment(client, author, post["id"])
    await _vote(client, voter, f"/api/v1/posts/{post['id']}", "upvote")
    await _vote(client, voter, f"/api/v1/comments/{comment['id']}", "upvote")

    mine = (await client.get(f"/api/v1/posts/{post['id']}", headers=voter["headers"])).json()
    assert (mine["likes_count"], mine["my_vote"]) == (1, "upvote")
    theirs = (await client.get(f"/api/v1/posts/{post['id']}", headers=author["headers"])).json()
    assert (theirs["likes_count"], theirs["my_vote"]) == (1, None)
    listed = (await client.get(f"/api/v1/posts/{post['id']}/comments", headers=voter["headers"])).json()
    assert (listed["items"][0]["likes_count"], listed["items"][0]["my_vote"]) == (1, "upvote")


async def test_what_cannot_be_voted_on(client, owner_conn):
    author, voter = await make_user(client), await make_user(client)
    draft = await make_post(client, author, is_published=False)
    note = await make_comment(client, author, draft["id"])
    post = await make_post(client, author)
    hidden = await make_post(client, author)  # hidden by a moderator: not there for others
    await owner_conn.execute("UPDATE posts SET hidden_at = now() WHERE id = $1::uuid",
                             hidden["id"])

    for path in (f"/api/v1/posts/{draft['id']}", f"/api/v1/comments/{note['id']}",
                 f"/api/v1/posts/{hidden['id']}",
                 f"/api/v1/posts/{uuid.uuid4()}", f"/api/v1/comments/{uuid.uuid4()}",
                 f"/api/v1/questions/{uuid.uuid4()}", f"/api/v1/answers/{uuid.uuid4()}"):
        for vote_type in ("upvote", None):
            r = await _vote(client, voter, path, vote_type)
            assert r.status_code == 404, (path, vote_type, r.text)

    # The author cannot vote on their own draft either (it is their own content).
    assert (await _vote(client, author, f"/api/v1/posts/{draft['id']}", "upvote")).status_code == 409

    url = f"/api/v1/posts/{post['id']}/vote"
    assert (await client.put(url, json={"vote_type": "upvote"})).status_code == 401
    assert (await client.delete(url)).status_code == 401
    assert (await client.put("/api/v1/posts/not-a-uuid/vote", headers=voter["headers"],
                             json={"vote_type": "upvote"})).status_code == 422
    for body in ({"vote_type": "like"}, {}, {"vote_type": "upvote", "user_id": author["user"]["id"]},
                 {"vote_type": None}):
        r = await client.put(url, headers=voter["headers"], json=body)
        assert r.status_code == 422, (body, r.text)
    assert (await client.put(f"/api/v1/users/{post['id']}/vote", headers=voter["headers"],
                             json={"vote_type": "upvote"})).status_code in (404, 405)
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 0


async def _crowd(settings, engine, n: int) -> list[dict[str, Any]]:
    """``n`` signed-up users. Sign-up is rate limited per client address and app, so the
    crowd signs up from a few addresses of its own app."""
    app = create_app(settings, engine=engine)
    users: list[dict[str, Any]] = []
    for batch in range(0, n, 10):
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{batch // 10 + 1}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            users += [await make_user(http) for _ in range(min(10, n - batch))]
    return users


async def test_counters_equal_a_recount_under_concurrent_votes(client, settings, engine, owner_conn):
    author = await make_user(client)
    voters = await _crowd(settings, engine, 20)
    question = await _question(engine, author)
    answer = await _answer(engine, author, question)
    targets = [("question", question), ("answer", answer)]

    async def wave(plan: list[tuple[dict[str, Any], str, str, str | None]]) -> None:
        responses = await asyncio.gather(*(
            _vote(client, voter, f"/api/v1/{kind}s/{item_id}", vote_type)
            for voter, kind, item_id, vote_type in plan))
        assert [r.status_code for r in responses] == [200] * len(plan), [r.text for r in responses]
        for kind, item_id in targets:
            counter, recount = await _counter_and_recount(owner_conn, kind, item_id)
            assert counter == recount, (kind, counter, recount)

    # Everyone votes on both at once: 14 up, 6 down.
    first = ["upvote"] * 14 + ["downvote"] * 6
    await wave([(v, kind, item_id, t) for v, t in zip(voters, first, strict=True) for kind, item_id in targets])
    assert await _counter_and_recount(owner_conn, "question", question) == (8, 8)

    # Then, at once: some switch, some withdraw, some repeat their vote, some author votes fail.
    second: list[str | None] = ["downvote"] * 5 + [None] * 5 + ["upvote"] * 4 + [None, "upvote"] * 3
    plan = [(v, kind, item_id, t) for v, t in zip(voters, second, strict=True) for kind, item_id in targets]
    author_tries = [_vote(client, author, f"/api/v1/{kind}s/{item_id}", "upvote") for kind, item_id in targets]
    _, *conflicts = await asyncio.gather(wave(plan), *author_tries)
    assert [r.status_code for r in conflicts] == [409, 409]

    # 14 up -> 5 down, 5 withdrawn, 4 still up; 6 down -> 3 withdrawn, 3 switched up.
    expected = -5 + 4 + 3
    for kind, item_id in targets:
        assert await _counter_and_recount(owner_conn, kind, item_id) == (expected, expected)
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 2 * (20 - 8)


async def test_the_document_says_what_each_score_counts(client):
    """Posts and comments are liked (upvotes only, 0027): their likes_count is a number of
    likes, not a net score of up- and downvotes, as the document said."""
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("PostRead", "CommentRead"):
        text = schemas[name]["properties"]["likes_count"]["description"].lower()
        assert "like" in text and "downvote" not in text and "net" not in text, (name, text)
    count = schemas["VoteRead"]["properties"]["count"]["description"].lower()
    assert "likes" in count and "net" in count, count


async def test_the_answers_of_a_hidden_question_are_not_voted_on(client, owner_conn):
    """An answer is visible only when its question is (0046): under a question hidden by a
    moderator, its answers take no vote from others (404), as its question does not."""
    asker, answerer, voter = await make_user(client), await make_user(client), await make_user(client)
    q = await make_question(client, asker)
    answer = await make_answer(client, answerer, q["id"])
    await owner_conn.execute("UPDATE questions SET hidden_at = now() WHERE id = $1::uuid", q["id"])
    for path in (f"/api/v1/answers/{answer['id']}", f"/api/v1/questions/{q['id']}"):
        for vote_type in ("upvote", None):
            r = await _vote(client, voter, path, vote_type)
            assert r.status_code == 404, (path, vote_type, r.text)
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 0
