"""0009 in SQL: ``search_ranked()`` returns only what the caller may see, ranks
within its window of newest matches, and pages without repeats or gaps."""

from __future__ import annotations

import asyncpg

from tests.db.helpers import (
    ANON,
    acting_as,
    as_user,
    expect_error,
    make_post,
    make_resource,
    make_user,
)

RANKED = (
    "SELECT id, rank FROM public.search_ranked($1, websearch_to_tsquery('english', $2),"
    " p_after_rank => $3, p_after_id => $4, p_limit => $5, p_window => $6)"
)


async def _ranked(conn: asyncpg.Connection, kind: str, q: str, *, after=(None, None),
                  limit: int = 20, window: int = 1000) -> list[asyncpg.Record]:
    return await conn.fetch(RANKED, kind, q, after[0], after[1], limit, window)


async def _post(owner: asyncpg.Connection, author, title: str, content: str, minutes_ago: int,
                published: bool = True):
    return await owner.fetchval(
        "INSERT INTO posts (author_id, title, content, is_published, created_at)"
        " VALUES ($1, $2, $3, $4, now() - make_interval(mins => $5)) RETURNING id",
        author, title, content, published, minutes_ago)


async def test_only_what_the_caller_may_see(app_conn, owner_conn):
    alice = await make_user(owner_conn)
    bob = await make_user(owner_conn)
    post = await make_post(owner_conn, alice)
    draft = await make_post(owner_conn, alice, published=False)
    public = await make_resource(owner_conn, alice, public=True)
    private = await make_resource(owner_conn, alice, public=False)
    for caller, posts, resources in (
        (ANON, {post}, {public}),
        (as_user(bob), {post}, {public}),
        (as_user(alice), {post, draft}, {public, private}),
    ):
        async with acting_as(app_conn, caller) as c:
            assert {r["id"] for r in await _ranked(c, "post", "learned")} == posts
            assert {r["id"] for r in await _ranked(c, "resource", "cheat sheet")} == resources


async def test_unknown_type_and_bad_window_are_refused(app_conn):
    async with acting_as(app_conn, ANON) as c:
        await expect_error(c, "22023", RANKED, "users", "x", None, None, 20, 1000)
        await expect_error(c, "22023", RANKED, "post", "x", None, None, 20, 0)
        await expect_error(c, "22023", RANKED, "post", "x", None, None, 20, 10001)


async def test_ranks_title_matches_first_within_the_window(app_conn, owner_conn):
    alice = await make_user(owner_conn)
    old_title = await _post(owner_conn, alice, "Recursion explained", "a walk through it", 60)
    bodies = [await _post(owner_conn, alice, f"Note {i}", "recursion " * (i + 1), 10 - i)
              for i in range(4)]
    async with acting_as(app_conn, ANON) as c:
        everything = await _ranked(c, "post", "recursion")
        assert everything[0]["id"] == old_title and everything[0]["rank"] >= 1
        assert all(r["rank"] < 1 for r in everything[1:])
        assert {r["id"] for r in everything[1:]} == set(bodies)
        # With a window of the 3 newest matches, the older title match is not ranked.
        newest = await _ranked(c, "post", "recursion", window=3)
        assert {r["id"] for r in newest} == set(bodies[1:])


async def test_cursor_pages_cover_every_match_once(app_conn, owner_conn):
    alice = await make_user(owner_conn)
    ids = {await _post(owner_conn, alice, f"Graph {i}", "graph " * (i % 3 + 1), i) for i in range(7)}
    seen: list = []
    after = (None, None)
    async with acting_as(app_conn, ANON) as c:
        while True:
            page = await _ranked(c, "post", "graph", after=after, limit=3)
            seen += [r["id"] for r in page]
            if len(page) < 3:
                break
            after = (page[-1]["rank"], page[-1]["id"])
    assert len(seen) == len(set(seen)) and set(seen) == ids


async def test_hidden_rows_and_blocked_authors_take_no_place_in_the_ranking(app_conn, owner_conn):
    """0056: as the tables' policies, a hidden match is ranked for its author and for
    administrators only, and nothing whose author is across a block is ranked."""
    author, blocker, reader = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    shown = await _post(owner_conn, author, "Osmosis", "osmosis notes", 3)
    hidden = await _post(owner_conn, author, "Osmosis again", "osmosis", 2)
    hidden_draft = await _post(owner_conn, author, "Osmosis draft", "osmosis", 4, published=False)
    blocked = await _post(owner_conn, blocker, "Osmosis too", "osmosis", 1)
    await owner_conn.execute("UPDATE posts SET hidden_at = now() WHERE id = ANY($1::uuid[])",
                             [hidden, hidden_draft])
    await owner_conn.execute(
        "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2)", blocker, reader)
    questions = [await owner_conn.fetchval(
        "INSERT INTO questions (author_id, title, content, hidden_at) VALUES ($1, 'Osmosis?',"
        " 'what is osmosis', CASE WHEN $2 THEN now() END) RETURNING id", author, hide)
        for hide in (False, True)]

    async def ranked(caller, kind="post"):
        async with acting_as(app_conn, caller):
            return {r["id"] for r in await _ranked(app_conn, kind, "osmosis")}

    assert await ranked(as_user(reader)) == {shown}
    assert await ranked(as_user(reader), "question") == {questions[0]}
    assert await ranked(ANON) == {shown, blocked}
    assert await ranked(as_user(author)) == {shown, hidden, hidden_draft, blocked}
    assert await ranked(as_user(author), "question") == set(questions)
    assert await ranked(as_user(admin)) == {shown, hidden, blocked}
    assert await ranked(as_user(admin), "question") == set(questions)
    # The one blocked sees nothing of the blocker either.
    assert await ranked(as_user(blocker)) == {shown, blocked}
