"""Comments through HTTP: the bounded tree, replies, who may change what, exact counts."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.api.conftest import make_user
from tests.api.factories_content import make_comment, make_post
from tests.querycount import count_queries

COUNTS_ARE_EXACT = """
SELECT
    (SELECT count(*) FROM posts p
      WHERE p.comments_count <> (SELECT count(*) FROM comments c WHERE c.post_id = p.id)),
    (SELECT count(*) FROM comments c
      WHERE c.replies_count <> (SELECT count(*) FROM comments r WHERE r.parent_id = c.id))
"""


async def _assert_counts_exact(owner_conn) -> None:
    assert tuple(await owner_conn.fetchrow(COUNTS_ARE_EXACT)) == (0, 0)


async def test_create_comments_and_replies(client, owner_conn):
    alice, bob = await make_user(client, username="alice"), await make_user(client, username="bob_b")
    post = await make_post(client, alice)
    top = await make_comment(client, bob, post["id"], content="Nice **proof**")
    assert top["post_id"] == post["id"] and top["parent_id"] is None
    assert top["author"]["username"] == "bob_b" and top["content"] == "Nice **proof**"
    assert (top["likes_count"], top["replies_count"], top["more_replies"], top["replies"]) == (0, 0, 0, [])
    assert top["my_vote"] is None

    reply = await make_comment(client, alice, post["id"], parent_id=top["id"], content="Thanks!")
    assert reply["parent_id"] == top["id"]
    assert (await client.get(f"/api/v1/posts/{post['id']}")).json()["comments_count"] == 2
    await _assert_counts_exact(owner_conn)

    # A reply stays on the post of its parent; unknown posts and parents are 404.
    other = await make_post(client, alice)
    r = await client.post(f"/api/v1/posts/{other['id']}/comments", headers=bob["headers"],
                          json={"content": "x", "parent_id": top["id"]})
    assert r.status_code == 422, r.text
    r = await client.post(f"/api/v1/posts/{post['id']}/comments", headers=bob["headers"],
                          json={"content": "x", "parent_id": str(uuid.uuid4())})
    assert r.status_code == 404, r.text
    r = await client.post(f"/api/v1/posts/{uuid.uuid4()}/comments", headers=bob["headers"], json={"content": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found"
    assert (await client.get(f"/api/v1/posts/{uuid.uuid4()}/comments")).status_code == 404
    assert (await client.get("/api/v1/posts/nope/comments")).status_code == 422


@pytest.mark.parametrize(
    "payload",
    [
        {"content": ""},
        {"content": "   \n"},
        {"content": "x" * 5_001},
        {"content": "nul \x00 byte"},
        {"content": "x", "post_id": str(uuid.uuid4())},
        {"content": "x", "author_id": str(uuid.uuid4())},
        {"content": "x", "parent_id": "not-a-uuid"},
        {},
    ],
)
async def test_invalid_comments_are_422(client, payload):
    alice = await make_user(client)
    post = await make_post(client, alice)
    r = await client.post(f"/api/v1/posts/{post['id']}/comments", headers=alice["headers"], json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_script_in_a_comment_comes_back_inert(client):
    alice = await make_user(client)
    post = await make_post(client, alice)
    await make_comment(client, alice, post["id"], content="<script>alert(1)</script>")
    r = await client.get(f"/api/v1/posts/{post['id']}/comments")
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["items"][0]["content"] == "<script>alert(1)</script>"


async def test_comments_of_a_draft_exist_only_for_its_author(client):
    alice, bob = await make_user(client), await make_user(client)
    draft = await make_post(client, alice, is_published=False)
    mine = await make_comment(client, alice, draft["id"], content="note to self")
    url = f"/api/v1/posts/{draft['id']}/comments"

    r = await client.get(url, headers=alice["headers"])
    assert [c["id"] for c in r.json()["items"]] == [mine["id"]]
    for headers in ({}, bob["headers"]):
        assert (await client.get(url, headers=headers)).status_code == 404
        assert (await client.get(f"/api/v1/comments/{mine['id']}/replies", headers=headers)).status_code == 404
    r = await client.post(url, headers=bob["headers"], json={"content": "hi"})
    assert r.status_code == 404
    r = await client.post(url, headers=bob["headers"], json={"content": "hi", "parent_id": mine["id"]})
    assert r.status_code == 404
    assert (await client.patch(f"/api/v1/comments/{mine['id']}", headers=bob["headers"],
                               json={"content": "x"})).status_code == 404
    assert (await client.delete(f"/api/v1/comments/{mine['id']}", headers=bob["headers"])).status_code == 404


async def test_only_the_author_edits_and_deletes_admins_delete_any(client, owner_conn):
    alice, bob, admin = await make_user(client), await make_user(client), await make_user(client)
    await owner_conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", uuid.UUID(admin["user"]["id"]))
    post = await make_post(client, alice)
    comment = await make_comment(client, bob, post["id"], content="first")
    url = f"/api/v1/comments/{comment['id']}"

    assert (await client.patch(url, json={"content": "anon"})).status_code == 401
    assert (await client.delete(url)).status_code == 401
    assert (await client.post(f"/api/v1/posts/{post['id']}/comments", json={"content": "x"})).status_code == 401
    # Not even the post's author or an admin edits someone else's comment.
    for session in (alice, admin):
        r = await client.patch(url, headers=session["headers"], json={"content": "edited"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_comment_author"
    assert (await client.delete(url, headers=alice["headers"])).status_code == 403

    r = await client.patch(url, headers=bob["headers"], json={"content": "second thoughts"})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "second thoughts" and r.json()["updated_at"] > comment["updated_at"]
    for payload in ({}, {"content": None}, {"content": "x" * 5_001}, {"content": "x", "parent_id": None}):
        assert (await client.patch(url, headers=bob["headers"], json=payload)).status_code == 422, payload

    assert (await client.delete(url, headers=admin["headers"])).status_code == 204
    assert (await client.delete(url, headers=bob["headers"])).status_code == 404
    assert (await client.patch(f"/api/v1/comments/{uuid.uuid4()}", headers=bob["headers"],
                               json={"content": "x"})).status_code == 404
    assert (await client.get(f"/api/v1/posts/{post['id']}")).json()["comments_count"] == 0


async def _thread(client, alice, bob, post_id):
    """5 top-level comments; the first has 5 replies; the first reply has 4; its first has 2."""
    tops = [await make_comment(client, alice, post_id, content=f"top {i}") for i in range(5)]
    replies = [await make_comment(client, bob, post_id, parent_id=tops[0]["id"], content=f"r {i}")
               for i in range(5)]
    subs = [await make_comment(client, alice, post_id, parent_id=replies[0]["id"], content=f"s {i}")
            for i in range(4)]
    deep = [await make_comment(client, bob, post_id, parent_id=subs[0]["id"], content=f"d {i}")
            for i in range(2)]
    return tops, replies, subs, deep


async def test_the_tree_is_bounded_and_says_what_it_leaves_out(client, owner_conn):
    alice, bob = await make_user(client), await make_user(client)
    post = await make_post(client, alice)
    tops, replies, subs, deep = await _thread(client, alice, bob, post["id"])

    r = await client.get(f"/api/v1/posts/{post['id']}/comments?limit=2")
    assert r.status_code == 200, r.text
    page = r.json()
    assert [c["id"] for c in page["items"]] == [tops[0]["id"], tops[1]["id"]]  # oldest first
    first = page["items"][0]
    assert (first["replies_count"], first["more_replies"]) == (5, 2)
    assert [c["id"] for c in first["replies"]] == [c["id"] for c in replies[:3]]
    level2 = first["replies"][0]
    assert (level2["replies_count"], level2["more_replies"]) == (4, 1)
    assert [c["id"] for c in level2["replies"]] == [c["id"] for c in subs[:3]]
    level3 = level2["replies"][0]
    # The third level is the last one shown: its replies are announced, not nested.
    assert (level3["replies_count"], level3["more_replies"], level3["replies"]) == (2, 2, [])
    assert page["items"][1]["replies"] == [] and page["items"][1]["more_replies"] == 0

    seen = [c["id"] for c in page["items"]]
    cursor = page["next_cursor"]
    while cursor:
        body = (await client.get(f"/api/v1/posts/{post['id']}/comments?limit=2&cursor={cursor}")).json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
    assert seen == [c["id"] for c in tops]

    # What was left out is one request away: the replies of a comment, same shape.
    r = await client.get(f"/api/v1/comments/{tops[0]['id']}/replies?limit=10")
    body = r.json()
    assert [c["id"] for c in body["items"]] == [c["id"] for c in replies] and body["next_cursor"] is None
    assert [c["id"] for c in body["items"][0]["replies"][0]["replies"]] == [c["id"] for c in deep]
    r = await client.get(f"/api/v1/comments/{replies[0]['id']}/replies?limit=3")
    assert [c["id"] for c in r.json()["items"]] == [c["id"] for c in subs[:3]]
    nxt = (await client.get(f"/api/v1/comments/{replies[0]['id']}/replies?limit=3"
                            f"&cursor={r.json()['next_cursor']}")).json()
    assert [c["id"] for c in nxt["items"]] == [subs[3]["id"]] and nxt["next_cursor"] is None
    assert (await client.get(f"/api/v1/comments/{uuid.uuid4()}/replies")).status_code == 404
    assert (await client.get(f"/api/v1/posts/{post['id']}/comments?cursor=bad")).status_code == 400
    await _assert_counts_exact(owner_conn)


async def test_listing_runs_a_fixed_number_of_queries(client, engine):
    alice, bob = await make_user(client), await make_user(client)
    small = await make_post(client, alice)
    await make_comment(client, alice, small["id"])
    big = await make_post(client, alice)
    tops, replies, subs, deep = await _thread(client, alice, bob, big["id"])
    await client.put(f"/api/v1/comments/{replies[0]['id']}/vote", headers=alice["headers"],
                     json={"vote_type": "upvote"})

    counts = []
    for post in (small, big):
        for headers in ({}, alice["headers"]):
            with count_queries(engine) as log:
                r = await client.get(f"/api/v1/posts/{post['id']}/comments", headers=headers)
            assert r.status_code == 200
            counts.append(log.count)
    assert counts == [3, 3, 3, 3]  # role switch, post visible?, the tree
    voted = r.json()["items"][0]["replies"][0]
    assert (voted["likes_count"], voted["my_vote"]) == (1, "upvote")


async def test_deleting_a_comment_deletes_its_replies_and_keeps_counts_exact(client, owner_conn):
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    post = await make_post(client, alice)
    tops, replies, subs, deep = await _thread(client, alice, bob, post["id"])
    for target in (replies[0], subs[1], deep[0]):
        r = await client.put(f"/api/v1/comments/{target['id']}/vote", headers=carol["headers"],
                             json={"vote_type": "upvote"})
        assert r.status_code == 200, r.text
    assert (await client.get(f"/api/v1/posts/{post['id']}")).json()["comments_count"] == 16

    # bob deletes his reply: alice's replies under it (and bob's under those) go too.
    r = await client.delete(f"/api/v1/comments/{replies[0]['id']}", headers=bob["headers"])
    assert r.status_code == 204
    gone = [replies[0]] + subs + deep
    left = await owner_conn.fetchval(
        "SELECT count(*) FROM comments WHERE id = ANY($1::uuid[])", [c["id"] for c in gone])
    assert left == 0
    assert await owner_conn.fetchval("SELECT count(*) FROM votes") == 0
    assert (await client.get(f"/api/v1/posts/{post['id']}")).json()["comments_count"] == 16 - len(gone)
    first = (await client.get(f"/api/v1/posts/{post['id']}/comments")).json()["items"][0]
    assert (first["replies_count"], first["more_replies"], len(first["replies"])) == (4, 1, 3)
    await _assert_counts_exact(owner_conn)


async def test_concurrent_replies_and_deletes_keep_counts_exact(client, owner_conn):
    alice = await make_user(client)
    repliers = [await make_user(client) for _ in range(8)]
    post = await make_post(client, alice)
    root = await make_comment(client, alice, post["id"])
    doomed = [await make_comment(client, alice, post["id"], parent_id=root["id"]) for _ in range(4)]
    for parent in doomed[:2]:
        await make_comment(client, alice, post["id"], parent_id=parent["id"])

    async def reply(session):
        return await client.post(f"/api/v1/posts/{post['id']}/comments", headers=session["headers"],
                                 json={"content": "me too", "parent_id": root["id"]})

    async def delete(comment):
        return await client.delete(f"/api/v1/comments/{comment['id']}", headers=alice["headers"])

    responses = await asyncio.gather(*(reply(s) for s in repliers), *(delete(c) for c in doomed))
    assert [r.status_code for r in responses] == [201] * 8 + [204] * 4
    await _assert_counts_exact(owner_conn)
    counts = (await client.get(f"/api/v1/posts/{post['id']}")).json()["comments_count"]
    assert counts == 1 + 8
    first = (await client.get(f"/api/v1/posts/{post['id']}/comments")).json()["items"][0]
    assert (first["replies_count"], first["more_replies"]) == (8, 5)


async def test_a_reply_needs_a_comment_the_replier_can_see(client, owner_conn):
    """A comment hidden by a moderator, or written by someone who blocked the replier, is
    not there for them (as reading it, its replies or voting on it say): a reply to it is
    404 and nothing is written. Before, the reply was stored under a parent no one else is
    shown, so it vanished, and it reached across the block."""
    alice, bob, carol = await make_user(client), await make_user(client), await make_user(client)
    post = await make_post(client, alice)
    hidden = await make_comment(client, alice, post["id"], content="hidden later")
    await owner_conn.execute("UPDATE comments SET hidden_at = now() WHERE id = $1",
                             uuid.UUID(hidden["id"]))
    walled = await make_comment(client, carol, post["id"], content="carol blocks bob")
    r = await client.put(f"/api/v1/users/{bob['user']['id']}/block", headers=carol["headers"])
    assert r.status_code == 204, r.text

    for parent in (hidden, walled, {"id": str(uuid.uuid4())}):
        r = await client.post(f"/api/v1/posts/{post['id']}/comments", headers=bob["headers"],
                              json={"content": "a reply", "parent_id": parent["id"]})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "comment_not_found", r.text
    assert await owner_conn.fetchval("SELECT count(*) FROM comments WHERE author_id = $1",
                                     uuid.UUID(bob["user"]["id"])) == 0
    # The author of the hidden comment and the blocker still reply to their own.
    await make_comment(client, alice, post["id"], parent_id=hidden["id"], content="mine")
    await make_comment(client, carol, post["id"], parent_id=walled["id"], content="mine too")
    await _assert_counts_exact(owner_conn)


async def test_replies_the_reader_may_not_see_are_not_announced(client, owner_conn):
    """``more_replies`` starts from the reply counter, which counts hidden replies too:
    where the tree read all of a comment's visible replies, none is left to announce."""
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    post = await make_post(client, alice)
    top = await make_comment(client, bob, post["id"])
    shown = await make_comment(client, carol, post["id"], parent_id=top["id"])
    hidden = await make_comment(client, carol, post["id"], parent_id=top["id"])
    await owner_conn.execute("UPDATE comments SET hidden_at = now() WHERE id = $1::uuid",
                             hidden["id"])
    r = await client.get(f"/api/v1/posts/{post['id']}/comments", headers=alice["headers"])
    (item,) = r.json()["items"]
    assert item["replies_count"] == 2  # the counter counts every reply
    assert [c["id"] for c in item["replies"]] == [shown["id"]]
    assert item["more_replies"] == 0
    r = await client.get(f"/api/v1/comments/{top['id']}/replies", headers=alice["headers"])
    assert [c["id"] for c in r.json()["items"]] == [shown["id"]]
    # Its author still sees the hidden reply, and nothing more is announced either.
    r = await client.get(f"/api/v1/posts/{post['id']}/comments", headers=carol["headers"])
    (item,) = r.json()["items"]
    assert len(item["replies"]) == 2 and item["more_replies"] == 0
