"""The feed through HTTP: following, latest and trending scopes, visibility, stable pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from focushub.feed.queries import RECENT_WINDOW
from tests.api.conftest import make_user
from tests.api.factories_social import (
    backdate,
    make_answer,
    make_comment,
    make_member,
    make_post,
    make_question,
    trending_score,
    vote,
)
from tests.querycount import count_queries


async def _all_pages(client, params, headers=None, *, engine=None):
    """Every item of the feed, page by page; asserts the statement count per page when given an engine."""
    items, cursor = [], None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        if engine is not None:
            with count_queries(engine) as log:
                r = await client.get("/api/v1/feed", params=query, headers=headers or {})
            assert log.count == 2  # role switch + one query, whatever the page
        else:
            r = await client.get("/api/v1/feed", params=query, headers=headers or {})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def test_latest_mixes_posts_and_questions_newest_first_without_drafts(client, engine, owner_conn):
    alice = await make_user(client)
    bob = await make_user(client)
    now = datetime.now(UTC)
    made = []
    for hours, (kind, who) in enumerate([("post", alice), ("question", bob), ("post", bob),
                                         ("question", alice), ("post", alice)]):
        if kind == "post":
            item = await make_post(engine, who, title=f"{kind} {hours}", content="<script>alert(1)</script>\n\nbody")
            await backdate(owner_conn, "posts", item, now - timedelta(hours=hours))
        else:
            item = await make_question(engine, who, title=f"{kind} {hours}")
            await backdate(owner_conn, "questions", item, now - timedelta(hours=hours))
        made.append((kind, str(item)))
    alice_draft = await make_post(engine, alice, title="alice draft", published=False)
    bob_draft = await make_post(engine, bob, title="bob draft", published=False)

    for headers in ({}, alice["headers"], bob["headers"]):
        items = await _all_pages(client, {"scope": "latest", "limit": 2}, headers, engine=engine)
        assert [(i["type"], i["id"]) for i in items] == made
        assert {str(alice_draft), str(bob_draft)}.isdisjoint({i["id"] for i in items})

    r = await client.get("/api/v1/feed", headers=alice["headers"])  # latest is the default
    assert r.headers["content-type"] == "application/json"
    first = r.json()["items"][0]
    assert first["excerpt"] == "<script>alert(1)</script> body"  # inert JSON text, whitespace collapsed
    assert first["author"] == {"id": alice["user"]["id"], "username": alice["user"]["username"],
                               "full_name": alice["user"]["full_name"], "avatar_url": None}
    assert (first["votes_count"], first["replies_count"], first["score"], first["my_vote"]) == (0, 0, None, None)


async def test_following_shows_only_followed_people_and_needs_sign_in(client, engine):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    bob_post = await make_post(engine, bob)
    bob_question = await make_question(engine, bob)
    await make_post(engine, bob, published=False)
    await make_post(engine, carol)
    await make_post(engine, alice)

    assert (await client.get("/api/v1/feed", params={"scope": "following"})).status_code == 401
    r = await client.get("/api/v1/feed", params={"scope": "following"}, headers=alice["headers"])
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}

    await client.put(f"/api/v1/users/{bob['user']['id']}/follow", headers=alice["headers"])
    items = await _all_pages(client, {"scope": "following", "limit": 1}, alice["headers"], engine=engine)
    assert [i["id"] for i in items] == [str(bob_question), str(bob_post)]


async def test_following_merges_each_authors_newest_across_pages(client, engine, owner_conn):
    """A prolific author's items and another's interleave newest first on every page, with
    more items per author than a page holds (one page is read per author, then merged)."""
    reader = await make_user(client)
    prolific = await make_user(client)
    other = await make_user(client)
    stranger = await make_user(client)
    now = datetime.now(UTC)
    expected = []
    for hours in range(12):
        who = other if hours % 3 == 2 else prolific
        if hours % 4 == 1:
            item = await make_question(engine, who, title=f"question {hours}")
            await backdate(owner_conn, "questions", item, now - timedelta(hours=hours))
        else:
            item = await make_post(engine, who, title=f"post {hours}")
            await backdate(owner_conn, "posts", item, now - timedelta(hours=hours))
        expected.append(str(item))
        # Someone the reader does not follow writes in between, and the prolific author
        # keeps a draft: neither may appear.
        await backdate(owner_conn, "posts", await make_post(engine, stranger),
                       now - timedelta(hours=hours, minutes=30))
    draft = await make_post(engine, prolific, title="draft", published=False)
    for who in (prolific, other):
        r = await client.put(f"/api/v1/users/{who['user']['id']}/follow", headers=reader["headers"])
        assert r.status_code in (200, 201, 204), r.text
    # Someone who follows many (followed × page over RECENT_WINDOW at a page of 100) is
    # answered from the window of everyone's newest while it holds a full page; the reader
    # above, who follows two, from each author's own newest.
    avid = await make_user(client)
    quiet = [await make_member(owner_conn) for _ in range(RECENT_WINDOW // 100 + 1)]
    for who in (prolific, other, *quiet):
        r = await client.put(f"/api/v1/users/{who['user']['id']}/follow",
                             headers=avid["headers"])
        assert r.status_code in (200, 201, 204), r.text

    async def pages_are_expected() -> None:
        for who, limit in ((reader, 1), (reader, 2), (reader, 5), (reader, 20), (avid, 100),
                           (avid, 5)):
            items = await _all_pages(client, {"scope": "following", "limit": limit},
                                     who["headers"], engine=engine)
            assert [i["id"] for i in items] == expected, (limit, who is avid)
            assert str(draft) not in {i["id"] for i in items}

    # Few items in all: the newest of everyone hold the followed authors' pages.
    await pages_are_expected()
    # More newer items by a stranger than the window of everyone's newest: each page
    # now comes from the followed authors' own newest items.
    await owner_conn.execute(
        "INSERT INTO posts (author_id, title, content, is_published, created_at)"
        " SELECT $1, 'newer ' || g, 'body', true, now() + g * interval '1 second'"
        " FROM generate_series(1, $2) g",
        UUID(stranger["user"]["id"]), RECENT_WINDOW + 5,
    )
    await pages_are_expected()


async def test_trending_weighs_activity_against_age_and_keeps_pages_stable(client, engine, owner_conn):
    author = await make_member(owner_conn)
    fans = [await make_user(client)] + [await make_member(owner_conn) for _ in range(2)]
    now = datetime.now(UTC)

    old_post = await make_post(engine, author, title="old but popular")
    for fan in fans:
        await vote(engine, fan, "post", old_post)
    await make_comment(engine, fans[0], old_post)
    await backdate(owner_conn, "posts", old_post, now - timedelta(hours=48))

    mid_post = await make_post(engine, author, title="liked a bit")
    for fan in fans[:2]:
        await vote(engine, fan, "post", mid_post)
    await backdate(owner_conn, "posts", mid_post, now - timedelta(hours=5))

    new_question = await make_question(engine, author, title="brand new")
    await backdate(owner_conn, "questions", new_question, now - timedelta(hours=1))

    ancient = await make_question(engine, author, title="long ago")
    await make_answer(engine, fans[0], ancient)
    await backdate(owner_conn, "questions", ancient, now - timedelta(days=8))

    r = await client.get("/api/v1/feed", params={"scope": "trending", "limit": 2}, headers=fans[0]["headers"])
    assert r.status_code == 200, r.text
    page1 = r.json()
    # Two likes (log10 2 = 0.30, worth 6 hours) outweigh the 4 hours mid_post is older by.
    assert [i["id"] for i in page1["items"]] == [str(mid_post), str(new_question)]
    for item, (votes, replies) in zip(page1["items"], [(2, 0), (0, 0)], strict=True):
        assert item["score"] == pytest.approx(trending_score(votes, replies, item["created_at"]), abs=1e-9)
    assert page1["items"][0]["my_vote"] == "upvote"

    # Activity after the first page does not pull new items into the next one.
    newest = await make_post(engine, fans[1], title="posted while paging")
    await vote(engine, fans[2], "post", newest)

    r = await client.get("/api/v1/feed", params={"scope": "trending", "limit": 2,
                                                 "cursor": page1["next_cursor"]}, headers=fans[0]["headers"])
    page2 = r.json()
    assert [i["id"] for i in page2["items"]] == [str(old_post), str(ancient)]
    old = page2["items"][0]
    assert (old["votes_count"], old["replies_count"]) == (3, 1)
    # Kept current by the counter triggers: 3 likes + 2 × 1 comment.
    assert old["score"] == pytest.approx(trending_score(3, 1, old["created_at"]), abs=1e-9)
    assert page2["next_cursor"] is None

    fresh = await _all_pages(client, {"scope": "trending"}, engine=engine)
    # newest (one like, log10 1 = 0) sits between mid_post and new_question.
    assert [i["id"] for i in fresh] == [str(mid_post), str(newest), str(new_question), str(old_post),
                                        str(ancient)]
    assert fresh[1]["score"] == pytest.approx(trending_score(1, 0, fresh[1]["created_at"]), abs=1e-9)

    # A cursor of another scope, or garbage, is a 400.
    r = await client.get("/api/v1/feed", params={"scope": "latest", "cursor": page1["next_cursor"]})
    assert r.status_code == 400
    r = await client.get("/api/v1/feed", params={"scope": "sideways"})
    assert r.status_code == 422
